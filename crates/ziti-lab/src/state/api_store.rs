//! Persistence of API sessions, off the state lock: `state/api-sessions.json` (a snapshot)
//! plus `state/api-sessions.journal` (one JSON line per change since that snapshot).
//!
//! [`LabState`](super::LabState) tells an [`ApiSessionStore`] what changed (a login, a
//! logout, an expiry, activity) while it holds its lock; that is a channel send, nothing more.
//! A writer thread owns the files: it takes every change queued so far, appends them to the
//! journal in one write, and keeps a mirror of the live sessions. When the journal holds more
//! than [`COMPACT_MIN_LINES`] lines and twice as many as there are live sessions, the writer
//! rewrites the snapshot from its mirror and empties the journal, so the files stay
//! proportional to the live sessions and each change costs an append (amortised).
//! [`ApiSessionStore::snapshot`] (used by [`LabState::flush`](super::LabState::flush) at
//! shutdown) writes the state's own list, with the latest activity, through the same queue, so
//! it is ordered after every change made before it.
//!
//! Why a journal rather than rewriting the whole file: at 10,000 live sessions the file is
//! ~3.7 MB, and rewriting it under the lock on every login held every other request behind it.
//! Measured (release build, `examples/login_rate.rs`, 10,000 logins over 200 identities): the
//! whole-file rewrite fell from 799 to 55 logins/s as sessions grew, 123/s on average; the
//! journal averages ~13,800/s. Over HTTPS with 8,000 live sessions
//! (`examples/https_login_rate.rs`, 8 clients): 40 logins/s before, ~1,400/s after. Loading replays the journal onto the snapshot; a last line cut short by a crash is
//! skipped with a warning. Changes still queued when the process is killed are lost (a clean
//! shutdown flushes them); activity times are persisted at compaction and at shutdown only.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{read_json, write_json_atomic, ApiSessionRecord, LabError};

/// Journal lines below which the writer never compacts (compacting costs a snapshot write).
pub(super) const COMPACT_MIN_LINES: usize = 4096;
/// Most changes the writer appends in one write.
const MAX_BATCH: usize = 4096;
/// How long [`ApiSessionStore::snapshot`] waits for the writer.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// File names under `state/`.
pub(super) const SNAPSHOT_FILE: &str = "api-sessions.json";
/// The journal, beside the snapshot.
pub(super) const JOURNAL_FILE: &str = "api-sessions.journal";

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JournalEntry {
    /// A session was opened (or replaced).
    Put(ApiSessionRecord),
    /// The session with this token ended (logout, expiry, eviction, identity deleted).
    Remove(String),
}

enum Change {
    Put(ApiSessionRecord),
    Remove(String),
    Touch {
        token: String,
        at: i64,
    },
    Snapshot(
        Vec<ApiSessionRecord>,
        mpsc::SyncSender<Result<(), LabError>>,
    ),
}

/// The sending side of the writer thread; dropping it lets the writer finish what is queued
/// and stop.
pub(super) struct ApiSessionStore {
    changes: mpsc::Sender<Change>,
    snapshot_path: PathBuf,
}

/// What [`load`] found on disk.
pub(super) struct Loaded {
    /// The live sessions (snapshot with the journal replayed).
    pub records: Vec<ApiSessionRecord>,
    /// Lines in the journal.
    pub journal_lines: usize,
}

/// Reads the snapshot and replays the journal onto it.
pub(super) fn load(state_dir: &Path) -> Result<Loaded, LabError> {
    let snapshot: Vec<ApiSessionRecord> =
        read_json(&state_dir.join(SNAPSHOT_FILE))?.unwrap_or_default();
    let mut by_token: HashMap<String, ApiSessionRecord> =
        snapshot.into_iter().map(|r| (r.token.clone(), r)).collect();
    let journal_path = state_dir.join(JOURNAL_FILE);
    let text = match std::fs::read(&journal_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(LabError::io("read", &journal_path, e)),
    };
    let mut journal_lines = 0;
    for (number, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        journal_lines += 1;
        match serde_json::from_slice::<JournalEntry>(line) {
            Ok(JournalEntry::Put(r)) => {
                by_token.insert(r.token.clone(), r);
            }
            Ok(JournalEntry::Remove(token)) => {
                by_token.remove(&token);
            }
            Err(e) => tracing::warn!(
                path = %journal_path.display(),
                line = number + 1,
                error = %e,
                "skipping an unreadable API session journal line (cut short by a crash?); \
                 the sessions it recorded must log in again"
            ),
        }
    }
    Ok(Loaded {
        records: by_token.into_values().collect(),
        journal_lines,
    })
}

impl ApiSessionStore {
    /// Starts the writer thread for `state_dir`, whose files hold `loaded`.
    pub(super) fn start(state_dir: &Path, loaded: &Loaded) -> Result<Self, LabError> {
        let snapshot_path = state_dir.join(SNAPSHOT_FILE);
        let journal_path = state_dir.join(JOURNAL_FILE);
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(|e| LabError::io("open", &journal_path, e))?;
        let writer = Writer {
            snapshot_path: snapshot_path.clone(),
            journal_path,
            journal,
            journal_lines: loaded.journal_lines,
            mirror: loaded
                .records
                .iter()
                .map(|r| (r.token.clone(), r.clone()))
                .collect(),
        };
        let (changes, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("lab-api-session-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LabError::io("start the API session writer for", state_dir, e))?;
        Ok(ApiSessionStore {
            changes,
            snapshot_path,
        })
    }

    fn send(&self, change: Change) {
        // The writer only stops when this sender is dropped, so a failed send means it
        // panicked; the warning names the file that no longer follows the sessions.
        if self.changes.send(change).is_err() {
            tracing::warn!(
                path = %self.snapshot_path.display(),
                "the API session writer has stopped; sessions are no longer persisted"
            );
        }
    }

    /// A session was opened.
    pub(super) fn put(&self, record: &ApiSessionRecord) {
        self.send(Change::Put(record.clone()));
    }

    /// The session with `token` ended.
    pub(super) fn remove(&self, token: &str) {
        self.send(Change::Remove(token.to_owned()));
    }

    /// The session with `token` was used at `at` (kept for the next snapshot, not journaled).
    pub(super) fn touch(&self, token: &str, at: i64) {
        self.send(Change::Touch {
            token: token.to_owned(),
            at,
        });
    }

    /// Queues `records` as the new snapshot (call while holding the state lock, so it is
    /// ordered after every change made before it). Wait for the write with the returned
    /// [`PendingSnapshot`] after releasing the lock.
    pub(super) fn snapshot(&self, records: Vec<ApiSessionRecord>) -> PendingSnapshot {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Change::Snapshot(records, tx));
        PendingSnapshot {
            rx,
            path: self.snapshot_path.clone(),
        }
    }
}

/// A snapshot queued to the writer.
pub(super) struct PendingSnapshot {
    rx: mpsc::Receiver<Result<(), LabError>>,
    path: PathBuf,
}

impl PendingSnapshot {
    /// Waits until the snapshot is written (bounded).
    pub(super) fn wait(self) -> Result<(), LabError> {
        match self.rx.recv_timeout(SNAPSHOT_WAIT) {
            Ok(result) => result,
            Err(_) => Err(LabError::io(
                "write (the API session writer did not answer within 30 s)",
                &self.path,
                std::io::Error::from(std::io::ErrorKind::TimedOut),
            )),
        }
    }
}

/// The writer thread's side: the files and a mirror of the live sessions.
struct Writer {
    snapshot_path: PathBuf,
    journal_path: PathBuf,
    journal: File,
    journal_lines: usize,
    mirror: HashMap<String, ApiSessionRecord>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Change>) {
        let mut lines = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut taken = 0;
            let mut next = Some(first);
            while let Some(change) = next.take() {
                self.apply(change, &mut lines);
                taken += 1;
                if taken < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            self.append(&mut lines);
            if self.journal_lines > COMPACT_MIN_LINES.max(2 * self.mirror.len()) {
                if let Err(e) = self.compact() {
                    tracing::warn!(error = %e, "cannot compact the API session journal");
                }
            }
        }
    }

    /// Applies one change to the mirror, adding its journal line (if any) to `lines`.
    fn apply(&mut self, change: Change, lines: &mut Vec<u8>) {
        let entry = match change {
            Change::Put(record) => {
                self.mirror.insert(record.token.clone(), record.clone());
                JournalEntry::Put(record)
            }
            Change::Remove(token) => {
                if self.mirror.remove(&token).is_none() {
                    return;
                }
                JournalEntry::Remove(token)
            }
            Change::Touch { token, at } => {
                if let Some(r) = self.mirror.get_mut(&token) {
                    r.last_activity_at = r.last_activity_at.max(at);
                }
                return;
            }
            Change::Snapshot(records, reply) => {
                // Everything queued before the snapshot is in it.
                lines.clear();
                self.mirror = records.into_iter().map(|r| (r.token.clone(), r)).collect();
                let _ = reply.send(self.compact());
                return;
            }
        };
        match serde_json::to_vec(&entry) {
            Ok(mut line) => {
                line.push(b'\n');
                lines.extend_from_slice(&line);
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode an API session journal line"),
        }
    }

    fn append(&mut self, lines: &mut Vec<u8>) {
        if lines.is_empty() {
            return;
        }
        let count = lines.iter().filter(|b| **b == b'\n').count();
        if let Err(e) = self.journal.write_all(lines) {
            tracing::warn!(
                path = %self.journal_path.display(),
                error = %e,
                "cannot append to the API session journal; the sessions of this batch will \
                 not survive a restart (check free space and permissions of the lab directory)"
            );
        }
        self.journal_lines += count;
        lines.clear();
    }

    /// Writes the mirror as the snapshot and empties the journal.
    fn compact(&mut self) -> Result<(), LabError> {
        let list: Vec<&ApiSessionRecord> = self.mirror.values().collect();
        write_json_atomic(&self.snapshot_path, &list)?;
        self.journal
            .set_len(0)
            .map_err(|e| LabError::io("truncate", &self.journal_path, e))?;
        self.journal_lines = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertFingerprint;

    fn record(token: &str, serial: u64) -> ApiSessionRecord {
        ApiSessionRecord {
            id: format!("id-{token}"),
            token: token.to_owned(),
            identity_id: "ident".into(),
            cert_fingerprint: CertFingerprint::of_der(b"cert"),
            config_types: Vec::new(),
            created_at: 1,
            last_activity_at: 1,
            ip_address: "127.0.0.1".into(),
            serial,
        }
    }

    fn tokens(dir: &Path) -> Vec<String> {
        let mut t: Vec<String> = load(dir)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.token)
            .collect();
        t.sort();
        t
    }

    #[test]
    fn changes_are_journaled_then_replayed_and_a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let empty = load(dir.path()).unwrap();
        assert!(empty.records.is_empty());
        let store = ApiSessionStore::start(dir.path(), &empty).unwrap();
        store.put(&record("a", 0));
        store.put(&record("b", 1));
        store.remove("a");
        store.touch("b", 99);
        store.remove("never-existed");
        // The snapshot orders after the changes: once it is written, they are too.
        drop(store);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokens(dir.path()) != ["b"] && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(tokens(dir.path()), ["b"]);
        let journal = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(journal.lines().count(), 3, "{journal}");
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap();
        file.write_all(b"{\"put\":{\"id\":\"cut sho").unwrap();
        assert_eq!(tokens(dir.path()), ["b"]);
    }

    #[test]
    fn a_long_journal_is_compacted_into_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = ApiSessionStore::start(dir.path(), &load(dir.path()).unwrap()).unwrap();
        for n in 0..=COMPACT_MIN_LINES as u64 {
            let token = format!("t{n}");
            store.put(&record(&token, n));
            if n > 0 {
                store.remove(&format!("t{}", n - 1));
            }
        }
        // Only a compaction writes the snapshot here.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !dir.path().join(SNAPSHOT_FILE).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(dir.path().join(SNAPSHOT_FILE).exists(), "never compacted");
        let journal = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert!(journal.lines().count() < 2 * COMPACT_MIN_LINES);
        store.snapshot(vec![record("last", 0)]).wait().unwrap();
        assert_eq!(tokens(dir.path()), ["last"]);
        assert_eq!(
            std::fs::metadata(dir.path().join(JOURNAL_FILE))
                .unwrap()
                .len(),
            0
        );
        store.put(&record("after", 1));
        drop(store);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokens(dir.path()).len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(tokens(dir.path()), ["after", "last"]);
    }
}
