//! Client-side rate limiting: at most `limit` requests in any `window`, per quota key (a Calendly
//! token, a GHL location).
//!
//! A sliding log rather than a token bucket: providers publish "N per window" without saying whether
//! their window is fixed or sliding, and a token bucket that refills continuously can put up to 2N
//! requests into one sliding window. The log never does, so it is safe under either reading, and a
//! healthy run sees no 429.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// At most `limit` acquisitions in any `window`.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Start times of the requests of the last `window`, oldest first.
    sent: VecDeque<Instant>,
    /// Nobody starts before this (set after a 429).
    paused_until: Option<Instant>,
}

impl SlidingWindow {
    pub fn new(limit: usize, window: Duration) -> Self {
        let limit = limit.max(1);
        SlidingWindow { limit, window, state: Mutex::new(State { sent: VecDeque::with_capacity(limit), paused_until: None }) }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Waits until one more request fits, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait_until = {
                let mut state = self.state.lock().expect("limiter lock");
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => Some(until),
                    _ => {
                        state.paused_until = None;
                        while state.sent.front().is_some_and(|t| *t + self.window <= now) {
                            state.sent.pop_front();
                        }
                        if state.sent.len() < self.limit {
                            state.sent.push_back(now);
                            None
                        } else {
                            Some(state.sent[0] + self.window)
                        }
                    }
                }
            };
            match wait_until {
                None => return,
                Some(until) => tokio::time::sleep_until(until).await,
            }
        }
    }

    /// Holds everyone back until `until` (the provider said 429: the quota is used up elsewhere too).
    pub fn pause_until(&self, until: Instant) {
        let mut state = self.state.lock().expect("limiter lock");
        if state.paused_until.is_none_or(|p| p < until) {
            state.paused_until = Some(until);
        }
    }
}

/// The process's limiters, one per quota key. Warm Lambda invocations share them, so back-to-back
/// runs do not each get a fresh quota.
#[derive(Debug, Default)]
pub struct Limiters {
    by_key: Mutex<HashMap<String, Arc<SlidingWindow>>>,
}

impl Limiters {
    /// The limiter of `key`, created with `limit` per `window` when new.
    pub fn get(&self, key: String, limit: usize, window: Duration) -> Arc<SlidingWindow> {
        let mut map = self.by_key.lock().expect("limiters lock");
        map.entry(key).or_insert_with(|| Arc::new(SlidingWindow::new(limit, window))).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time, short windows (the crate's tokio has no paused clock).
    #[tokio::test]
    async fn never_more_than_limit_in_any_window() {
        let window = Duration::from_millis(300);
        let limiter = Arc::new(SlidingWindow::new(5, window));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times: Vec<Instant> = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < *t + window).count();
            assert!(in_window <= 5, "{in_window} requests within one window of request {i}");
        }
        // And it does not wait longer than needed: 12 requests = 5 now, 5 after one window, 2 after two.
        let took = *times.last().unwrap() - start;
        assert!(took >= window * 2 && took < window * 2 + Duration::from_millis(150), "{took:?}");
    }

    #[tokio::test]
    async fn pause_holds_everyone() {
        let limiter = SlidingWindow::new(100, Duration::from_secs(10));
        let start = Instant::now();
        limiter.pause_until(start + Duration::from_millis(200));
        limiter.pause_until(start + Duration::from_millis(50)); // an earlier pause does not shorten it
        limiter.acquire().await;
        let took = Instant::now() - start;
        assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(350), "{took:?}");
    }
}
