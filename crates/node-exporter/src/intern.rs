//! [`interned`]: metric names and help texts built from kernel field names
//! (`node_memory_<field>`, `node_netstat_<proto>_<field>`, …), allocated once per process
//! and borrowed by every later scrape.
//!
//! A host exporter writes the same few hundred such names on every scrape; without this
//! each scrape would format and allocate each of them (and its help text) again. The set is
//! bounded by what the kernel reports, but as a guard against a source that invents new
//! names forever the table stops growing at [`LIMIT`] entries; names past it are returned
//! owned (allocated per use, as before), so nothing grows without bound.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::Mutex;

use dark_metrics::exposition::Text;

/// Most distinct strings kept (a few hundred are used on a typical host).
const LIMIT: usize = 4096;

/// A set of leaked strings that stops growing at `limit` entries.
struct Table {
    set: Mutex<BTreeSet<&'static str>>,
    limit: usize,
}

static TABLE: Table = Table::new(LIMIT);

thread_local! {
    /// Formatting buffer, reused so a lookup of a known name allocates nothing.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The formatted text, borrowed from the process-wide table (added on first use).
pub(crate) fn interned(args: fmt::Arguments<'_>) -> Text {
    TABLE.get_or_add(args)
}

impl Table {
    const fn new(limit: usize) -> Self {
        Table {
            set: Mutex::new(BTreeSet::new()),
            limit,
        }
    }

    fn get_or_add(&self, args: fmt::Arguments<'_>) -> Text {
        if let Some(literal) = args.as_str() {
            return Text::Borrowed(literal);
        }
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Only reachable if a Display impl in `args` interned something itself.
                return Text::Owned(fmt::format(args));
            };
            scratch.clear();
            // Writing to a String only fails if a Display impl does; keep what was written.
            let _ = scratch.write_fmt(args);
            let mut set = crate::lock(&self.set);
            if let Some(&known) = set.get(scratch.as_str()) {
                return Text::Borrowed(known);
            }
            if set.len() >= self.limit {
                return Text::Owned(scratch.clone());
            }
            let added: &'static str = Box::leak(scratch.as_str().into());
            set.insert(added);
            Text::Borrowed(added)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_is_one_borrowed_string() {
        // Run-time values (literal arguments are folded into a literal by `format_args!`).
        let field = std::hint::black_box(String::from("MemTotal"));
        let a = interned(format_args!("node_memory_{field}_bytes"));
        let b = interned(format_args!("node_memory_{}_bytes", field.as_str()));
        assert_eq!(a, "node_memory_MemTotal_bytes");
        match (&a, &b) {
            (Text::Borrowed(x), Text::Borrowed(y)) => assert!(std::ptr::eq(*x, *y)),
            other => panic!("not borrowed: {other:?}"),
        }
        assert!(matches!(
            interned(format_args!("literal")),
            Text::Borrowed("literal")
        ));
    }

    #[test]
    fn a_full_table_hands_out_owned_copies() {
        let table = Table::new(3);
        let n = |i: u32| std::hint::black_box(i);
        for i in 0..3 {
            assert!(matches!(
                table.get_or_add(format_args!("t{}", n(i))),
                Text::Borrowed(_)
            ));
        }
        let past = table.get_or_add(format_args!("t{}", n(3)));
        assert!(matches!(past, Text::Owned(ref s) if s == "t3"));
        assert_eq!(table.set.lock().unwrap().len(), 3);
        // Known names are still borrowed.
        assert!(matches!(
            table.get_or_add(format_args!("t{}", n(0))),
            Text::Borrowed("t0")
        ));
    }
}
