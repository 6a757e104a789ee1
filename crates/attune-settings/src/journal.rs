//! The journal (docs/design.md §5.4): the durable record of every original value Attune replaced,
//! and the single source of truth for a restore.
//!
//! Format (version 1): a text file `settings.journal` in the caller's data dir. The first line is
//! `attune-journal 1`; each further line is one record: the lowercase hex SHA-256 of the
//! record's JSON, a space, and the JSON. The whole file is rewritten atomically at each change
//! ([`crate::atomic`]), so a crash leaves the old or the new journal, never a torn one; the
//! checksums still catch what a crash cannot cause (a bad disk, a stray edit, a copy cut short).
//! A damaged file is set aside as `settings.journal.corrupt` and the records before the first bad
//! line are kept and restored (docs/test-matrix.md B6); a journal of another version is left in
//! place and refused with a clear error, since only the Attune that wrote it can read it.
//!
//! Three cases are told apart, because they call for opposite answers:
//! - no file, or an empty one (a crash cannot leave one, but a full disk can): nothing to restore;
//! - a valid header and a damaged tail: the records before the damage are restored (above);
//! - no valid header (garbage from byte 0): the file is refused as [`JournalError::Damaged`] and
//!   left in place. Reading it as "nothing to restore" would let the next key-in record the
//!   previous person's values as the originals, and the computer would never be put back. Only
//!   an administrator's explicit [`Journal::keep_aside_damaged`] (`attune recover
//!   --discard-journal`) gets past it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::atomic;
use crate::failpoint;

/// The journal's format version this build reads and writes.
pub const JOURNAL_VERSION: u32 = 1;

const MAGIC: &str = "attune-journal";

/// File name of the journal inside the data dir.
pub const JOURNAL_FILE: &str = "settings.journal";

/// Where the setting lives, resolved at apply time (paths expanded), so a restore finds the
/// same target whatever the environment of the process that restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetSpec {
    Gsettings {
        schema: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    JsonFile {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        root: String,
    },
    IniFile {
        path: PathBuf,
    },
}

impl TargetSpec {
    /// The identity used to merge originals: two registry entries writing the same key of the
    /// same schema (or the same file path) share one original.
    pub fn id(&self) -> String {
        match self {
            TargetSpec::Gsettings { schema, path } => match path {
                Some(p) => format!("gsettings:{schema}:{p}"),
                None => format!("gsettings:{schema}"),
            },
            TargetSpec::JsonFile { path, .. } | TargetSpec::IniFile { path } => {
                format!("file:{}", path.display())
            }
        }
    }

    /// The file, for file targets.
    pub fn file(&self) -> Option<&Path> {
        match self {
            TargetSpec::Gsettings { .. } => None,
            TargetSpec::JsonFile { path, .. } | TargetSpec::IniFile { path } => Some(path),
        }
    }
}

/// A value as journalled: `absent` (unset / missing) is recorded explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Stored {
    Absent,
    Value { value: Value },
}

impl Stored {
    pub fn from_option(v: Option<Value>) -> Stored {
        match v {
            None => Stored::Absent,
            Some(value) => Stored::Value { value },
        }
    }

    pub fn to_option(&self) -> Option<Value> {
        match self {
            Stored::Absent => None,
            Stored::Value { value } => Some(value.clone()),
        }
    }
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The original of one setting, recorded before it was first changed.
    Original {
        solution: String,
        handler: String,
        target: TargetSpec,
        setting: String,
        original: Stored,
    },
    /// A settings file as it was before Attune first wrote it (`content: None`: it did not
    /// exist), and the nearest directory that existed, so directories Attune created for it are
    /// removed again.
    FileOriginal {
        path: PathBuf,
        content: Option<String>,
        existing_ancestor: Option<PathBuf>,
    },
    /// The SHA-256 of content Attune is about to write to a file: a restore that finds exactly
    /// this content puts the original bytes back; anything else was edited since, and only
    /// Attune's own settings are put back.
    FileWritten { path: PathBuf, sha256: String },
    /// An apply finished writing (every setting attempted).
    Applied,
}

impl Record {
    /// For an original: the setting, and the value that puts it back (`None`: unset it).
    pub fn to_restore(&self) -> Option<(&str, Option<Value>)> {
        match self {
            Record::Original {
                setting, original, ..
            } => Some((setting, original.to_option())),
            _ => None,
        }
    }
}

/// What was wrong with a journal file, and where its damaged copy was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDamage {
    pub path: PathBuf,
    /// The damaged file, kept for inspection.
    pub kept_at: PathBuf,
    /// Records before the first bad line, which are used.
    pub records_kept: usize,
    /// Lines from the first bad one on, which are dropped.
    pub lines_dropped: usize,
    pub detail: String,
}

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("cannot write the settings journal {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("cannot read the settings journal {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error(
        "the settings journal {path} has format version {found}; this Attune reads version \
         {JOURNAL_VERSION}. It was left in place: restore it with the Attune that wrote it, or \
         move it away to discard it"
    )]
    Version { path: PathBuf, found: String },
    /// No valid header: what the file held (and so what the desktop looked like before) is
    /// unknown. Left in place.
    #[error(
        "the settings journal {path} is damaged from its start ({detail}): the original settings \
         it recorded cannot be read. It was left in place"
    )]
    Damaged { path: PathBuf, detail: String },
    /// There is no unreadable journal to keep aside (none, or one that restores normally).
    #[error("the settings journal {path} {why}; there is nothing to discard")]
    NotDamaged { path: PathBuf, why: &'static str },
}

/// The journal in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    pub records: Vec<Record>,
}

/// A journal read from disk.
#[derive(Debug)]
pub struct Loaded {
    /// `None`: no journal (closed).
    pub journal: Option<Journal>,
    pub damage: Option<JournalDamage>,
}

/// Path of the journal in `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

fn corrupt_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".corrupt");
    PathBuf::from(s)
}

fn line_for(rec: &Record) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(rec)?;
    let sum = hex::encode(Sha256::digest(json.as_bytes()));
    Ok(format!("{sum} {json}\n"))
}

/// Records read, and (lines dropped, why) when the file is damaged.
type Parsed = (Vec<Record>, Option<(usize, String)>);

/// Parses journal text. `Ok((records, None))` when whole; with a damaged tail, the good prefix
/// and a description; an empty file is damage with nothing in it. `Err` for a journal of another
/// version, and for one without a valid header ([`JournalError::Damaged`]).
fn parse(text: &[u8], path: &Path) -> Result<Parsed, JournalError> {
    let total_lines = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    if text.is_empty() {
        return Ok((Vec::new(), Some((0, "the file is empty".to_owned()))));
    }
    let mut lines = text.split_inclusive(|&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    let header_s = String::from_utf8_lossy(header);
    let header_t = header_s.trim_end_matches('\n');
    match header_t
        .strip_prefix(MAGIC)
        .and_then(|r| r.strip_prefix(' '))
    {
        Some(v) if v == JOURNAL_VERSION.to_string() && header.ends_with(b"\n") => {}
        Some(v)
            if !v.is_empty()
                && v.chars().all(|c| c.is_ascii_digit())
                && header.ends_with(b"\n") =>
        {
            return Err(JournalError::Version {
                path: path.to_owned(),
                found: v.to_owned(),
            })
        }
        _ => {
            return Err(JournalError::Damaged {
                path: path.to_owned(),
                detail: format!(
                    "the first line is not `{MAGIC} {JOURNAL_VERSION}`; {total_lines} line(s)"
                ),
            })
        }
    }
    let mut records = Vec::new();
    for (i, raw) in lines.enumerate() {
        let lineno = i + 2;
        let bad = |detail: String| {
            let dropped = total_lines.saturating_sub(lineno - 1);
            (dropped, format!("line {lineno}: {detail}"))
        };
        let Some(body) = raw.strip_suffix(b"\n") else {
            return Ok((records, Some(bad("cut short (no end of line)".to_owned()))));
        };
        let Ok(body) = std::str::from_utf8(body) else {
            return Ok((records, Some(bad("not UTF-8".to_owned()))));
        };
        let Some((sum, json)) = body.split_once(' ') else {
            return Ok((records, Some(bad("no checksum".to_owned()))));
        };
        if hex::encode(Sha256::digest(json.as_bytes())) != sum {
            return Ok((records, Some(bad("checksum mismatch".to_owned()))));
        }
        match serde_json::from_str::<Record>(json) {
            Ok(r) => records.push(r),
            Err(e) => return Ok((records, Some(bad(format!("unreadable record: {e}"))))),
        }
    }
    Ok((records, None))
}

impl Journal {
    /// Reads the journal in `dir` without changing anything (for status). A leftover temp file
    /// of an interrupted write is ignored here and swept by [`Journal::load`].
    pub fn peek(dir: &Path) -> Result<Loaded, JournalError> {
        let path = path_in(dir);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    journal: None,
                    damage: None,
                })
            }
            Err(e) => {
                return Err(JournalError::Read {
                    path,
                    detail: e.to_string(),
                })
            }
        };
        let (records, damage) = parse(&bytes, &path)?;
        Ok(Loaded {
            damage: damage.map(|(dropped, detail)| JournalDamage {
                kept_at: corrupt_path(&path),
                path: path.clone(),
                records_kept: records.len(),
                lines_dropped: dropped,
                detail,
            }),
            journal: Some(Journal { records }),
        })
    }

    /// Reads the journal for use: sweeps a temp file a crash left, and repairs a damaged journal
    /// (the damaged file is kept as `.corrupt`, the good records are written back) so what is
    /// on disk is again exactly what is in memory. An empty repaired journal is closed.
    pub fn load(dir: &Path) -> Result<Loaded, JournalError> {
        let path = path_in(dir);
        atomic::sweep_temp(&path);
        let mut loaded = Journal::peek(dir)?;
        if let Some(d) = &loaded.damage {
            tracing::warn!(path = %path.display(), detail = %d.detail, kept = d.records_kept,
                "settings journal damaged; keeping the good records");
            fs::rename(&path, &d.kept_at).map_err(|e| JournalError::Write {
                path: path.clone(),
                detail: format!("cannot set the damaged journal aside: {e}"),
            })?;
            let j = loaded.journal.take().unwrap_or_default();
            if j.records.is_empty() {
                atomic::sync_dir(dir).map_err(|e| JournalError::Write {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            } else {
                j.commit(dir, "repair")?;
                loaded.journal = Some(j);
            }
        }
        Ok(loaded)
    }

    /// Writes the whole journal durably. `purpose` names the failpoints passed
    /// (`journal.<purpose>.tmp_written` … `journal.<purpose>.committed`).
    pub fn commit(&self, dir: &Path, purpose: &str) -> Result<(), JournalError> {
        let path = path_in(dir);
        let mut text = format!("{MAGIC} {JOURNAL_VERSION}\n");
        for r in &self.records {
            text.push_str(&line_for(r).map_err(|e| JournalError::Write {
                path: path.clone(),
                detail: e.to_string(),
            })?);
        }
        let prefix = format!("journal.{purpose}");
        atomic::atomic_write_steps(&path, text.as_bytes(), Some(&prefix)).map_err(|e| {
            JournalError::Write {
                path: path.clone(),
                detail: e.to_string(),
            }
        })?;
        failpoint::step(&format!("{prefix}.committed"));
        Ok(())
    }

    /// Keeps an unreadable journal aside, so that Attune can record originals again: the file
    /// (damaged from its start, or of another version) is renamed beside itself to
    /// `settings.journal.damaged-<now_unix>`, readable only by its owner, and the rename made
    /// durable. Returns where it was kept. A journal that reads (even one whose damaged tail is
    /// cut at the next load), or none, is refused with [`JournalError::NotDamaged`]: its
    /// originals are restored by a recovery, never thrown away.
    pub fn keep_aside_damaged(dir: &Path, now_unix: u64) -> Result<PathBuf, JournalError> {
        let path = path_in(dir);
        match Journal::peek(dir) {
            Err(JournalError::Damaged { .. } | JournalError::Version { .. }) => {}
            Err(e) => return Err(e),
            Ok(Loaded { journal: None, .. }) => {
                return Err(JournalError::NotDamaged {
                    path,
                    why: "does not exist",
                })
            }
            Ok(_) => {
                return Err(JournalError::NotDamaged {
                    path,
                    why: "is readable (`attune recover` restores what it holds)",
                })
            }
        }
        let mut kept = path.as_os_str().to_owned();
        kept.push(format!(".damaged-{now_unix}"));
        let kept = PathBuf::from(kept);
        let err = |detail: String| JournalError::Write {
            path: path.clone(),
            detail,
        };
        if kept.exists() {
            return Err(err(format!(
                "cannot keep it aside: {} already exists",
                kept.display()
            )));
        }
        fs::rename(&path, &kept).map_err(|e| err(format!("cannot keep it aside: {e}")))?;
        {
            use std::os::unix::fs::PermissionsExt;
            // It may hold the previous person's settings: private, like the journal's dir.
            fs::set_permissions(&kept, fs::Permissions::from_mode(0o600))
                .map_err(|e| err(format!("cannot make {} private: {e}", kept.display())))?;
        }
        atomic::sync_dir(dir).map_err(|e| err(e.to_string()))?;
        tracing::warn!(path = %path.display(), kept = %kept.display(),
            "unreadable settings journal kept aside on request; nothing was restored");
        Ok(kept)
    }

    /// Closes the journal: removes the file durably.
    pub fn close(dir: &Path) -> Result<(), JournalError> {
        let path = path_in(dir);
        let err = |e: io::Error| JournalError::Write {
            path: path.clone(),
            detail: e.to_string(),
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        failpoint::step("journal.close.removed");
        atomic::sync_dir(dir).map_err(err)
    }

    /// The originals, in the order they were recorded.
    pub fn originals(&self) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(|r| matches!(r, Record::Original { .. }))
    }

    /// Whether an original of this setting of this target is already recorded.
    pub fn has_original(&self, target_id: &str, setting: &str) -> bool {
        self.records.iter().any(|r| {
            matches!(r, Record::Original { target, setting: s, .. }
                if s == setting && target.id() == target_id)
        })
    }

    pub fn file_original(&self, file: &Path) -> Option<(&Option<String>, &Option<PathBuf>)> {
        self.records.iter().find_map(|r| match r {
            Record::FileOriginal {
                path,
                content,
                existing_ancestor,
            } if path == file => Some((content, existing_ancestor)),
            _ => None,
        })
    }

    pub fn written_hashes(&self, file: &Path) -> Vec<&str> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::FileWritten { path, sha256 } if path == file => Some(sha256.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether the last apply finished.
    pub fn applied(&self) -> bool {
        matches!(self.records.last(), Some(Record::Applied))
    }
}

/// Hex SHA-256 of bytes (file contents in [`Record::FileWritten`]).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The original of one key of the GSettings schema `org.x`.
    fn original(setting: &str, original: Stored) -> Record {
        Record::Original {
            solution: "s".into(),
            handler: "configuration".into(),
            target: TargetSpec::Gsettings {
                schema: "org.x".into(),
                path: None,
            },
            setting: setting.into(),
            original,
        }
    }

    fn sample() -> Journal {
        Journal {
            records: vec![
                original("a", Stored::Absent),
                original("b", Stored::Value { value: json!(1.5) }),
                Record::Applied,
            ],
        }
    }

    /// A new directory whose journal file holds `content`: the directory and the journal's path.
    fn journal_holding(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = path_in(d.path());
        fs::write(&p, content).unwrap();
        (d, p)
    }

    /// The sample journal committed in a new directory: the directory, the journal's path and
    /// its bytes.
    fn committed_sample() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let d = tempfile::tempdir().unwrap();
        sample().commit(d.path(), "test").unwrap();
        let p = path_in(d.path());
        let bytes = fs::read(&p).unwrap();
        (d, p, bytes)
    }

    #[test]
    fn a_committed_journal_reads_back_equal() {
        let d = tempfile::tempdir().unwrap();
        sample().commit(d.path(), "test").unwrap();
        let l = Journal::load(d.path()).unwrap();
        assert_eq!(l.journal, Some(sample()));
        assert!(l.damage.is_none());
        Journal::close(d.path()).unwrap();
        assert!(Journal::load(d.path()).unwrap().journal.is_none());
    }

    #[test]
    fn a_truncated_tail_is_dropped_and_earlier_records_kept() {
        let (d, p, bytes) = committed_sample();
        fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        let l = Journal::load(d.path()).unwrap();
        let dmg = l.damage.unwrap();
        assert_eq!(dmg.records_kept, 2);
        assert_eq!(dmg.lines_dropped, 1);
        assert_eq!(l.journal.unwrap().records, sample().records[..2].to_vec());
        assert_eq!(fs::read(&dmg.kept_at).unwrap(), bytes[..bytes.len() - 5]);
        // The repaired journal is whole again.
        assert!(Journal::peek(d.path()).unwrap().damage.is_none());
    }

    #[test]
    fn a_flipped_bit_in_the_middle_drops_that_record_and_the_rest() {
        let (d, p, mut bytes) = committed_sample();
        let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        let third = second + bytes[second..].iter().position(|&b| b == b'\n').unwrap() + 1;
        bytes[third + 80] ^= 0x04;
        fs::write(&p, &bytes).unwrap();
        let l = Journal::load(d.path()).unwrap();
        assert_eq!(l.journal.unwrap().records.len(), 1);
        assert!(l.damage.unwrap().detail.contains("line 3"));
    }

    #[test]
    fn an_empty_journal_is_set_aside_and_closed() {
        let (d, p) = journal_holding(b"");
        let l = Journal::load(d.path()).unwrap();
        assert!(l.journal.is_none());
        assert!(l.damage.unwrap().detail.contains("empty"));
        assert!(!p.exists());
        assert!(corrupt_path(&p).exists());
    }

    #[test]
    fn another_version_is_refused_and_left_in_place() {
        let (d, p) = journal_holding(b"attune-journal 2\nwhatever\n");
        let e = Journal::load(d.path()).unwrap_err();
        assert!(
            matches!(&e, JournalError::Version { found, .. } if found == "2"),
            "{e}"
        );
        assert!(e.to_string().contains("version 2"));
        assert!(p.exists());
    }

    #[test]
    fn garbage_from_the_first_byte_is_refused_as_damaged_and_left_in_place() {
        let garbage = b"\x00\x01garbage\nmore garbage\n";
        let (d, p) = journal_holding(garbage);

        let peeked = Journal::peek(d.path()).unwrap_err();
        let loaded = Journal::load(d.path()).unwrap_err();

        for e in [&peeked, &loaded] {
            assert!(matches!(e, JournalError::Damaged { .. }), "{e}");
            assert!(e.to_string().contains("damaged from its start"), "{e}");
        }
        assert_eq!(fs::read(&p).unwrap(), garbage);
        assert!(!corrupt_path(&p).exists());
    }

    #[test]
    fn a_header_cut_short_or_a_foreign_file_is_damaged_not_empty() {
        for text in [
            &b"attune-journ"[..],
            b"attune-journal 1",
            b"\n",
            b"{\"records\": []}\n",
        ] {
            let (d, _) = journal_holding(text);
            let e = Journal::peek(d.path()).unwrap_err();
            assert!(matches!(e, JournalError::Damaged { .. }), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_valid_header_with_a_damaged_first_record_is_tail_damage_not_refused() {
        let (d, p) = journal_holding(b"attune-journal 1\nnot a record\n");
        let l = Journal::load(d.path()).unwrap();
        assert!(l.journal.is_none());
        assert_eq!(l.damage.unwrap().records_kept, 0);
        assert!(corrupt_path(&p).exists());
    }

    #[test]
    fn a_damaged_journal_is_kept_aside_privately_and_then_nothing_is_open() {
        use std::os::unix::fs::PermissionsExt;
        let (d, p) = journal_holding(b"garbage");

        let kept = Journal::keep_aside_damaged(d.path(), 1_790_000_000).unwrap();

        assert_eq!(
            kept,
            d.path().join("settings.journal.damaged-1790000000"),
            "beside the journal, named by the time"
        );
        assert_eq!(fs::read(&kept).unwrap(), b"garbage");
        assert_eq!(
            fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!p.exists());
        assert!(Journal::load(d.path()).unwrap().journal.is_none());
    }

    #[test]
    fn a_readable_or_missing_journal_is_never_discarded() {
        let d = tempfile::tempdir().unwrap();
        let e = Journal::keep_aside_damaged(d.path(), 1).unwrap_err();
        assert!(matches!(e, JournalError::NotDamaged { .. }), "{e}");

        sample().commit(d.path(), "test").unwrap();
        let e = Journal::keep_aside_damaged(d.path(), 1).unwrap_err();

        assert!(matches!(e, JournalError::NotDamaged { .. }), "{e}");
        assert_eq!(Journal::peek(d.path()).unwrap().journal, Some(sample()));
    }
}
