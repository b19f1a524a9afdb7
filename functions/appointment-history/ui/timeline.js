// timeline.html?lead={leadId}#token={bearer token}: the <appointment-timeline> of one lead.
// The token comes from the URL fragment, which the browser never sends to a server; it is then
// removed from the address bar (and so from the history), and is kept only in the element.
(() => {
  'use strict';
  const lead = new URLSearchParams(location.search).get('lead');
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);

  document.getElementById('lead-id').textContent = lead || '(none)';
  const problem = !lead
    ? 'No lead: open this page as timeline.html?lead=<lead id>#token=<token>.'
    : !token
      ? 'No token: open the link that carries #token=… again (the page forgets the token when it is reloaded).'
      : null;
  if (problem) {
    const p = document.createElement('p');
    p.textContent = problem;
    document.getElementById('page-error').append(p);
    return;
  }
  const timeline = document.createElement('appointment-timeline');
  timeline.setAttribute('lead-id', lead);
  // The API is this page's parent path: /ui/timeline.html -> /, and locally
  // /lambda-url/appointment-history/ui/timeline.html -> /lambda-url/appointment-history/.
  timeline.setAttribute('api-base', new URL('..', location.href).href);
  timeline.token = token;
  document.getElementById('slot').append(timeline);
})();
