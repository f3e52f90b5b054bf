//! Loss and duplicate accounting for one subscriber's view of the log.

/// Tracks the `seq`s one subscriber received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqTracker {
    last: Option<u64>,
    /// Entries that never arrived (gaps).
    pub lost: u64,
    /// Entries that arrived again, or out of order behind the last one.
    pub duplicated: u64,
    /// Entries received in order.
    pub received: u64,
}

impl SeqTracker {
    /// Starts after `seq` (the subscribe ack's `head_seq`, or a snapshot's).
    pub fn starting_at(seq: u64) -> Self {
        Self { last: Some(seq), ..Self::default() }
    }

    /// Last seq received in order.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Counts one arriving entry.
    pub fn observe(&mut self, seq: u64) {
        match self.last {
            Some(last) if seq <= last => self.duplicated += 1,
            Some(last) => {
                self.lost += seq - last - 1;
                self.received += 1;
                self.last = Some(seq);
            }
            None => {
                self.received += 1;
                self.last = Some(seq);
            }
        }
    }

    /// Resumes after `seq` without counting what lies between as lost: the
    /// subscriber was resynced by a snapshot consistent as of `seq`.
    pub fn resync(&mut self, seq: u64) {
        self.last = Some(seq);
    }

    /// Closes the account against the log head: whatever is missing at the end is lost too.
    pub fn finish(&mut self, head: u64) {
        if let Some(last) = self.last
            && head > last
        {
            self.lost += head - last;
            self.last = Some(head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_entry_is_counted_lost() {
        let mut t = SeqTracker::starting_at(10);
        for seq in [11, 12, 14, 15] {
            t.observe(seq); // 13 dropped on the way
        }
        t.finish(15);
        assert_eq!((t.lost, t.duplicated, t.received), (1, 0, 4));
    }

    #[test]
    fn repeats_and_stale_entries_are_duplicates_and_a_short_tail_is_lost() {
        let mut t = SeqTracker::starting_at(0);
        for seq in [1, 2, 2, 3, 1] {
            t.observe(seq);
        }
        t.finish(5);
        assert_eq!((t.lost, t.duplicated, t.received), (2, 2, 3));
    }

    #[test]
    fn a_clean_stream_counts_nothing_wrong() {
        let mut t = SeqTracker::starting_at(100);
        (101..=200).for_each(|s| t.observe(s));
        t.finish(200);
        assert_eq!((t.lost, t.duplicated, t.received), (0, 0, 100));
    }
}
