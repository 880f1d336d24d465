//! The network's pending events (deliveries and timers), filed by time in buckets one window
//! wide.
//!
//! The network takes events a window at a time (all those before some end), never one by one,
//! and sorts each window's events itself: so the queue needs no order inside a bucket. Filing
//! is a push at the end of a bucket's vector, and a window costs a pass over one or two buckets,
//! where a binary heap of a 10^5-node run's millions of events paid a cache miss per level for
//! each event in and out, on the one thread every other waits for.

use std::collections::BTreeMap;

/// A pending event: (time in ns, sequence number, what).
pub(super) type Pending = (u64, u64, u32);

#[derive(Debug)]
pub(super) struct Queue {
    /// Bucket number (time / width) → its events, in no order.
    buckets: BTreeMap<u64, Vec<Pending>>,
    width: u64,
    len: usize,
}

impl Queue {
    /// An empty queue whose buckets are `width` ns wide.
    pub(super) fn new(width: u64) -> Self {
        Queue {
            buckets: BTreeMap::new(),
            width: width.max(1),
            len: 0,
        }
    }

    pub(super) fn push(&mut self, event: Pending) {
        self.buckets
            .entry(event.0 / self.width)
            .or_default()
            .push(event);
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The time of the earliest event.
    pub(super) fn first(&self) -> Option<u64> {
        let (_, bucket) = self.buckets.first_key_value()?;
        bucket.iter().map(|event| event.0).min()
    }

    /// Moves every event earlier than `end` into `out` (in no particular order).
    pub(super) fn take_before(&mut self, end: u64, out: &mut Vec<Pending>) {
        while let Some(mut entry) = self.buckets.first_entry() {
            let start = entry.key().saturating_mul(self.width);
            if start >= end {
                break;
            }
            if start.saturating_add(self.width) <= end {
                let bucket = entry.remove();
                self.len -= bucket.len();
                out.extend(bucket);
                continue;
            }
            // The bucket straddles `end`: the earlier events leave, the others stay.
            let bucket = entry.get_mut();
            let before = bucket.len();
            bucket.retain(|event| {
                if event.0 < end {
                    out.push(*event);
                    false
                } else {
                    true
                }
            });
            self.len -= before - bucket.len();
            if bucket.is_empty() {
                entry.remove();
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_exactly_the_events_before_the_end() {
        let mut queue = Queue::new(10);
        for (sequence, at) in [25, 3, 19, 20, 9, 40, 31, 10].into_iter().enumerate() {
            queue.push((at, sequence as u64, 0));
        }
        assert_eq!(queue.first(), Some(3));
        let mut out = Vec::new();
        queue.take_before(20, &mut out);
        out.sort_unstable();
        assert_eq!(
            out.iter().map(|event| event.0).collect::<Vec<_>>(),
            [3, 9, 10, 19]
        );
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.first(), Some(20));
        out.clear();
        queue.take_before(32, &mut out);
        out.sort_unstable();
        assert_eq!(
            out.iter().map(|event| event.0).collect::<Vec<_>>(),
            [20, 25, 31]
        );
        assert_eq!(queue.first(), Some(40));
        out.clear();
        queue.take_before(u64::MAX, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((queue.len(), queue.first()), (0, None));
    }
}
