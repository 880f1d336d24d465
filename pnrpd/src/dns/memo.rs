//! The answers a UDP listener already made from the current view, by query (every byte after
//! the ID): a query asked again while the view is unchanged gets the same bytes with its own ID,
//! without being decoded, looked up and encoded again. Only answers that do not depend on the
//! time go in (this machine's names, "not found" without a cloud, the answers made without a
//! lookup); an answer from the freshness window, whose TTL counts down, never does. Emptied
//! whenever the view changes (at every publish, so at least every 2 s), so it never answers what
//! the view would not.

use std::collections::HashMap;
use std::sync::Arc;

use super::answer::Reply;
use crate::daemon::view::View;

/// Most answers kept; the memo starts afresh beyond.
const MAX_ANSWERS: usize = 1024;

/// The memo of one listener (no lock: one task owns it).
#[derive(Debug, Default)]
pub struct Memo {
    view: Option<Arc<View>>,
    answers: HashMap<Box<[u8]>, Reply>,
}

impl Memo {
    /// The answer to `query` made earlier from `view`, with the query's ID.
    pub fn get(&mut self, view: &Arc<View>, query: &[u8]) -> Option<Reply> {
        self.follow(view);
        let (id, key) = (query.get(..2)?, query.get(2..)?);
        let mut reply = self.answers.get(key)?.clone();
        reply.bytes.get_mut(..2)?.copy_from_slice(id);
        Some(reply)
    }

    /// Keeps `reply`, the answer to `query` made from `view`.
    pub fn put(&mut self, view: &Arc<View>, query: &[u8], reply: &Reply) {
        self.follow(view);
        let Some(key) = query.get(2..) else {
            return;
        };
        if self.answers.len() >= MAX_ANSWERS {
            self.answers.clear();
        }
        self.answers.insert(key.into(), reply.clone());
    }

    /// Forgets everything if the view is not the one the answers were made from.
    fn follow(&mut self, view: &Arc<View>) {
        if !self
            .view
            .as_ref()
            .is_some_and(|memo_view| Arc::ptr_eq(memo_view, view))
        {
            self.answers.clear();
            self.view = Some(view.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::answer::Outcome;

    fn reply(bytes: &[u8]) -> Reply {
        Reply {
            bytes: bytes.to_vec(),
            outcome: Outcome::Answered,
            truncated: false,
        }
    }

    #[test]
    fn same_view_same_query_other_id() {
        let view = Arc::new(View::default());
        let mut memo = Memo::default();
        assert!(memo.get(&view, b"\x00\x01question").is_none());
        memo.put(&view, b"\x00\x01question", &reply(b"\x00\x01answer"));
        assert_eq!(
            memo.get(&view, b"\xab\xcdquestion").unwrap().bytes,
            b"\xab\xcdanswer"
        );
        assert!(memo.get(&view, b"\xab\xcdquestioN").is_none());
        // Another view: forgotten.
        let newer = Arc::new(View::default());
        assert!(memo.get(&newer, b"\x00\x01question").is_none());
        assert!(memo.get(&view, b"\x00\x01question").is_none());
    }

    #[test]
    fn bounded() {
        let view = Arc::new(View::default());
        let mut memo = Memo::default();
        for index in 0..MAX_ANSWERS * 3 {
            let query = format!("..{index}");
            memo.put(&view, query.as_bytes(), &reply(b"..x"));
            assert!(memo.answers.len() <= MAX_ANSWERS);
        }
    }
}
