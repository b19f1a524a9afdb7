// <appointment-timeline lead-id="…" api-base="…">: a lead's appointment history from the
// appointment-history API, for the CRM's lead drawer or the standalone page (timeline.html).
//
//   const el = document.createElement('appointment-timeline');
//   el.setAttribute('lead-id', leadId);
//   el.setAttribute('api-base', 'https://api.example.com');   // optional: defaults to where this script is served from
//   el.token = bearerToken;                                    // a property only: never an attribute, never in a URL
//   drawer.append(el);
//
// No framework and no build step. Everything the API answers is written with textContent (never as
// HTML). One request per page of the timeline (`include=tasks`, plus `changes` when the change log
// is shown). Optional attribute `page-size` (1–200, default 20). The element's `data-state` is
// `idle`, `loading`, `ready` or `error`.
(() => {
  'use strict';

  // Resolved now: document.currentScript is only set while this file first runs.
  const SCRIPT_URL = document.currentScript ? document.currentScript.src : location.href;
  const STYLE_URL = new URL('appointment-timeline.css', SCRIPT_URL).href;
  const DEFAULT_API_BASE = new URL('..', SCRIPT_URL).href;
  const PAGE_SIZE = 20;

  const STATUS = { CONFIRMED: 'Confirmed', CANCELED: 'Canceled', RESCHEDULED: 'Rescheduled', SHOWED: 'Showed', NO_SHOW: 'No-show' };
  const SOURCE = {
    WEBHOOK: 'Provider webhook', RECONCILE_CRON: 'Scheduled reconcile', BACKFILL: 'Backfill',
    AUTO_BOOK: 'Auto-booked', MANUAL: 'Manual', MIGRATION: 'Migrated from the lead record',
  };
  const PROVIDER = { CALENDLY: 'Calendly', GHL: 'GoHighLevel' };
  const CANCELER = { host: 'The host', invitee: 'The invitee' };
  const TASK = { 'meeting-canceled': 'Meeting canceled', 'meeting-rescheduled': 'Meeting rescheduled' };
  const CHANGE = {
    created: 'Created', adopted: 'Adopted', status_changed: 'Status changed', time_changed: 'Time changed',
    linked_reschedule: 'Linked as a reschedule',
  };
  const ERRORS = {
    401: 'Your sign-in has expired or is not valid. Reload the CRM (or open a new timeline link) and try again.',
    404: 'This lead was not found, or it is not in a workspace you can see.',
    503: 'The appointment service is unavailable right now. Try again in a minute.',
  };
  const VIEWER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  // h('li', {class: 'x', 'data-a': 1}, child, 'text', …): an element; strings become text nodes.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const label = (table, value) => (value === null || value === undefined ? 'Unknown' : table[value] || String(value));

  // "Tue, Mar 20, 2031, 5:00 PM EDT" in a zone; null when the zone is unknown to the browser.
  function formatIn(iso, zone) {
    if (!iso) return null;
    try {
      return new Intl.DateTimeFormat(undefined, {
        timeZone: zone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
        hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
      }).format(new Date(iso));
    } catch (e) {
      return null;
    }
  }

  function timeOnly(iso, zone) {
    try {
      return new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: 'numeric', minute: '2-digit', timeZoneName: 'short' })
        .format(new Date(iso));
    } catch (e) {
      return null;
    }
  }

  // "start – end" in a zone (the end's time only).
  function range(start, end, zone) {
    const from = formatIn(start, zone);
    if (!from) return null;
    const to = end ? timeOnly(end, zone) : null;
    return to ? `${from} – ${to}` : from;
  }

  function isoAttr(iso) {
    return iso ? iso : null;
  }

  class AppointmentTimeline extends HTMLElement {
    static get observedAttributes() {
      return ['lead-id', 'api-base'];
    }

    #token = null;
    #filters = { includeCanceled: true, activeOnly: false, changes: false };
    #entries = [];
    #tasks = [];
    #rollup = null;
    #primaryId = null;
    #nextCursor = null;
    #request = 0;
    #abort = null;
    #ui = null;

    constructor() {
      super();
      this.attachShadow({ mode: 'open' });
      // A token set on the element before this script upgraded it is an own property: take it over.
      if (Object.prototype.hasOwnProperty.call(this, 'token')) {
        const early = this.token;
        delete this.token;
        this.token = early;
      }
    }

    /** The bearer token for the API. Write-only: it is kept in memory and sent only in the Authorization header. */
    set token(value) {
      this.#token = value ? String(value) : null;
      if (this.isConnected) this.reload();
    }

    connectedCallback() {
      if (!this.#ui) this.#build();
      this.reload();
    }

    disconnectedCallback() {
      if (this.#abort) this.#abort.abort();
    }

    attributeChangedCallback(name, oldValue, newValue) {
      if (oldValue !== newValue && this.isConnected && this.#ui) this.reload();
    }

    get #apiBase() {
      const base = this.getAttribute('api-base') || DEFAULT_API_BASE;
      return base.endsWith('/') ? base : `${base}/`;
    }

    /** Reads the first page again (filters changed, token or lead set, retry). */
    reload() {
      if (!this.#ui) return;
      this.#entries = [];
      this.#tasks = [];
      this.#rollup = null;
      this.#primaryId = null;
      this.#nextCursor = null;
      const leadId = this.getAttribute('lead-id');
      if (!leadId) return this.#fail('No lead is selected.', false);
      if (!this.#token) {
        this.#request++;
        this.dataset.state = 'idle';
        this.#ui.status.textContent = 'Waiting for sign-in…';
        return;
      }
      this.#load(null);
    }

    #build() {
      const root = this.shadowRoot;
      const heading = h('h2', { id: 'status-heading' }, 'Booking status');
      const status = h('section', { class: 'booking', 'aria-labelledby': 'status-heading' }, heading, h('div', { class: 'booking-body' }));
      const checkbox = (name, text, checked) => {
        const input = h('input', { type: 'checkbox', name, id: `filter-${name}`, checked });
        input.addEventListener('change', () => {
          this.#filters[name] = input.checked;
          this.reload();
        });
        return h('label', { for: `filter-${name}` }, input, ` ${text}`);
      };
      const filters = h(
        'fieldset', { class: 'filters' },
        h('legend', {}, 'Show'),
        checkbox('includeCanceled', 'Canceled appointments', true),
        checkbox('activeOnly', 'Active only', false),
        checkbox('changes', 'Change log', false),
      );
      const listHeading = h('h2', { id: 'list-heading' }, 'Appointments, newest first');
      const list = h('ol', { class: 'timeline', 'aria-labelledby': 'list-heading' });
      const live = h('p', { class: 'state', role: 'status', 'aria-live': 'polite' });
      const alert = h('div', { class: 'error', role: 'alert' });
      const more = h('button', { type: 'button', class: 'more', hidden: true }, 'Load more');
      more.addEventListener('click', () => this.#load(this.#nextCursor));
      root.append(h('link', { rel: 'stylesheet', href: STYLE_URL }), status, filters, listHeading, alert, list, live, more);
      this.#ui = { booking: status.lastChild, list, status: live, alert, more };
    }

    async #load(cursor) {
      const id = ++this.#request;
      if (this.#abort) this.#abort.abort();
      const abort = new AbortController();
      this.#abort = abort;
      const ui = this.#ui;
      this.dataset.state = 'loading';
      ui.list.setAttribute('aria-busy', 'true');
      ui.alert.replaceChildren();
      ui.more.hidden = true;
      ui.status.textContent = cursor ? 'Loading more appointments…' : 'Loading appointments…';
      if (!cursor) {
        ui.list.replaceChildren();
        ui.booking.replaceChildren();
      }

      const params = new URLSearchParams();
      if (!this.#filters.includeCanceled) params.set('includeCanceled', 'false');
      if (this.#filters.activeOnly) params.set('activeOnly', 'true');
      const size = Number.parseInt(this.getAttribute('page-size'), 10);
      params.set('limit', String(size >= 1 && size <= 200 ? size : PAGE_SIZE));
      params.set('include', this.#filters.changes ? 'tasks,changes' : 'tasks');
      if (cursor) params.set('cursor', cursor);
      const url = new URL(`leads/${encodeURIComponent(this.getAttribute('lead-id'))}/appointments?${params}`, this.#apiBase);

      let response;
      let body;
      try {
        response = await fetch(url, {
          headers: { Authorization: `Bearer ${this.#token}`, Accept: 'application/json' },
          credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer', signal: abort.signal,
        });
        body = await response.json().catch(() => null);
      } catch (e) {
        if (id !== this.#request) return;
        return this.#fail('The appointment service could not be reached. Check the connection and try again.', true);
      }
      if (id !== this.#request) return;
      if (!response.ok || !body || !Array.isArray(body.appointments)) {
        const known = ERRORS[response.status];
        return this.#fail(known || `The appointments could not be loaded (HTTP ${response.status}).`, response.status !== 404 && response.status !== 401, response.status);
      }

      this.#rollup = body.rollup;
      this.#primaryId = body.primaryAppointmentId;
      if (Array.isArray(body.followUpTasks)) this.#tasks = body.followUpTasks;
      const first = this.#entries.length;
      this.#entries = this.#entries.concat(body.appointments);
      this.#nextCursor = body.nextCursor || null;
      this.#render();
      ui.list.removeAttribute('aria-busy');
      ui.more.hidden = !this.#nextCursor;
      const n = this.#entries.length;
      ui.status.textContent = n === 0
        ? (this.#filters.activeOnly || !this.#filters.includeCanceled ? 'No appointments match these filters.' : 'No appointments yet.')
        : `${n} appointment${n === 1 ? '' : 's'} shown${this.#nextCursor ? ', more available' : ''}.`;
      this.dataset.state = 'ready';
      if (cursor && n > first) {
        // Keyboard users continue where the new items start.
        ui.list.children[first].focus();
      }
    }

    #fail(message, retry, status) {
      this.dataset.state = 'error';
      const ui = this.#ui;
      ui.list.removeAttribute('aria-busy');
      ui.status.textContent = '';
      ui.more.hidden = true;
      const children = [h('p', {}, message)];
      if (retry) {
        const again = h('button', { type: 'button' }, 'Try again');
        again.addEventListener('click', () => this.reload());
        children.push(again);
      }
      ui.alert.replaceChildren(...children);
      if (status) ui.alert.dataset.status = String(status);
      else delete ui.alert.dataset.status;
    }

    // The whole list is drawn again for each page: a later page can hold the other end of a
    // reschedule link drawn on an earlier one.
    #render() {
      this.#renderBooking();
      const tasksByAppointment = new Map();
      for (const task of this.#tasks) {
        if (!tasksByAppointment.has(task.appointmentId)) tasksByAppointment.set(task.appointmentId, []);
        tasksByAppointment.get(task.appointmentId).push(task);
      }
      const items = this.#entries.map((entry) => this.#item(entry, entry.id ? tasksByAppointment.get(entry.id) : undefined));
      // A line joins a rescheduled-to appointment and the one it replaced when they are neighbours.
      items.forEach((item, i) => {
        const next = items[i + 1];
        if (next && item.dataset.rescheduledFrom && item.dataset.rescheduledFrom === next.dataset.appointmentId) {
          item.classList.add('links-next');
        }
      });
      this.#ui.list.replaceChildren(...items);
    }

    #renderBooking() {
      const r = this.#rollup || {};
      const booked = r.status === 'confirmed';
      const primary = this.#entries.find((e) => e.isPrimary) || null;
      const body = [];
      body.push(h('p', { class: `booked ${booked ? 'yes' : 'no'}`, 'data-booked': booked ? 'true' : 'false' },
        h('span', { class: 'badge' }, booked ? 'Booked' : 'Not booked'),
        r.status === 'canceled' ? ' (the latest appointment was canceled or rescheduled)' : ''));
      if (r.startAt || primary) {
        const start = primary ? primary.startAt : r.startAt;
        const end = primary ? primary.endAt : r.endAt;
        const zone = primary && primary.timezone ? primary.timezone : VIEWER_ZONE;
        const when = range(start, end, zone) || 'Time unknown';
        const what = h('p', { class: 'primary' }, 'Primary appointment: ');
        if (primary && primary.id) {
          what.append(h('a', { href: `#appt-${primary.id}`, 'data-target': primary.id }, when));
        } else {
          what.append(when);
        }
        const provider = primary ? primary.provider : r.provider;
        if (provider) what.append(` · ${label(PROVIDER, provider)}`);
        if (start && Date.parse(start) < Date.now()) what.append(' (in the past)');
        body.push(what);
      }
      const open = this.#tasks.length;
      if (open) {
        body.push(h('p', { class: 'task-summary urgent' },
          h('span', { class: 'flag', 'aria-hidden': 'true' }, '!'),
          ` ${open} open follow-up${open === 1 ? '' : 's'} about a canceled or rescheduled meeting`));
      }
      this.#ui.booking.replaceChildren(...body);
      for (const link of this.#ui.booking.querySelectorAll('a[data-target]')) this.#wireJump(link);
    }

    // In-card links move focus to the target card (hash links do not cross the shadow boundary).
    #wireJump(link) {
      link.addEventListener('click', (event) => {
        const target = this.shadowRoot.getElementById(`appt-${link.dataset.target}`);
        if (!target) return;
        event.preventDefault();
        target.scrollIntoView({ block: 'nearest' });
        target.focus();
      });
    }

    #taskList(tasks) {
      return h('ul', { class: 'tasks', 'aria-label': 'Open follow-up tasks' }, tasks.map((t) =>
        h('li', { class: `task${t.isUrgent ? ' urgent' : ''}`, 'data-task-type': t.type },
          h('span', { class: 'flag', 'aria-hidden': 'true' }, '!'),
          ` ${t.isUrgent ? 'Urgent follow-up' : 'Follow-up'}: ${label(TASK, t.type)} (${t.status})`)));
    }

    #item(entry, tasks) {
      const fallback = entry.origin === 'leadRollup';
      const statusText = label(STATUS, entry.status);
      const zone = entry.timezone;
      const local = range(entry.startAt, entry.endAt, VIEWER_ZONE);
      const title = local || 'Time unknown';
      const headingId = `h-${fallback ? 'rollup' : entry.id}`;

      const details = h('dl', {});
      const row = (term, ...value) => details.append(h('dt', {}, term), h('dd', {}, ...value));
      if (zone) {
        row(`Appointment time (${zone})`, h('time', { datetime: isoAttr(entry.startAt) }, range(entry.startAt, entry.endAt, zone) || 'Unknown'));
      }
      row(`Your time (${VIEWER_ZONE})`, h('time', { datetime: isoAttr(entry.startAt) }, local || 'Unknown'));
      row('Provider', label(PROVIDER, entry.provider));
      row('Source', label(SOURCE, entry.source));
      if (entry.canceledAt || entry.status === 'CANCELED') {
        row('Canceled', h('time', { datetime: isoAttr(entry.canceledAt) }, formatIn(entry.canceledAt, VIEWER_ZONE) || 'Time unknown'));
        if (entry.canceledBy) row('Canceled by', label(CANCELER, entry.canceledBy));
        if (entry.cancelReason) row('Reason', h('q', { class: 'reason' }, entry.cancelReason));
      }

      const card = h('article', { class: 'card', 'aria-labelledby': headingId },
        h('header', {},
          h('span', { class: `badge status-${String(entry.status || 'unknown').toLowerCase()}` }, statusText),
          entry.isPrimary ? h('span', { class: 'badge primary-badge' }, 'Primary') : null,
          h('h3', { id: headingId }, title)),
        fallback ? h('p', { class: 'fallback-note' }, 'From the lead record: this lead has no appointment history yet, so this is the appointment the CRM stored on the lead.') : null,
        details);

      if (entry.rescheduledFromId) {
        card.append(this.#chainLink('Rescheduled from', entry.rescheduledFromId, 'from'));
      }
      for (const to of entry.rescheduledToIds || []) {
        card.append(this.#chainLink('Rescheduled to', to, 'to'));
      }
      if (Array.isArray(entry.changes) && entry.changes.length) {
        card.append(h('details', { class: 'changes' },
          h('summary', {}, `Change log (${entry.changes.length})`),
          h('ol', {}, entry.changes.map((c) => h('li', {},
            h('time', { datetime: c.at }, formatIn(c.at, VIEWER_ZONE)), ` · ${label(CHANGE, c.kind)}`,
            c.from || c.to ? ` · ${c.from || '—'} → ${c.to || '—'}` : '', ` · ${label(SOURCE, c.source)}`)))));
      }
      if (tasks) card.append(this.#taskList(tasks));

      const item = h('li', {
        class: `entry${fallback ? ' fallback' : ''}${tasks ? ' has-open-task' : ''}`,
        id: fallback ? null : `appt-${entry.id}`,
        tabindex: '-1',
        'data-appointment-id': fallback ? null : entry.id,
        'data-rescheduled-from': entry.rescheduledFromId || null,
        'data-status': entry.status || null,
        'data-origin': entry.origin,
      }, card);
      return item;
    }

    #chainLink(text, id, direction) {
      const shown = this.#entries.some((e) => e.id === id);
      const p = h('p', { class: `chain chain-${direction}` }, h('span', { 'aria-hidden': 'true' }, direction === 'from' ? '↓ ' : '↑ '), `${text} `);
      if (shown) {
        const link = h('a', { href: `#appt-${id}`, 'data-target': id }, 'an earlier booking');
        if (direction === 'to') link.textContent = 'a later booking';
        this.#wireJump(link);
        p.append(link);
      } else {
        p.append(direction === 'from' ? 'an earlier booking (not shown)' : 'a later booking (not shown)');
      }
      return p;
    }
  }

  if (!customElements.get('appointment-timeline')) customElements.define('appointment-timeline', AppointmentTimeline);
})();
