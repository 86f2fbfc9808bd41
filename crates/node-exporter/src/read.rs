//! Small, bounded readers for procfs and sysfs files, mapping failures to [`CollectorError`].

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::CollectorError;

/// Largest file a collector reads whole (procfs files here are a few KiB; `/proc/net/udp`
/// grows with the socket count, so the cap is generous).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Size of each `read` call of a whole-file read; most procfs files fit in one.
const READ_CHUNK_BYTES: usize = 16 * 1024;

thread_local! {
    /// Read buffer of the collector threads, reused so a file read allocates only its
    /// exact-size result (a fresh 16 KiB buffer per file made the allocator consolidate
    /// its free lists on every read).
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Kernel text as a string: UTF-8 checked the fast way (the files are ASCII; the lossy
/// conversion walks byte by byte and measured 4-7% of the meminfo and netstat collectors),
/// converted lossily only when that fails.
pub(crate) fn text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Reads a whole text file (lossy UTF-8), at most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path) -> Result<String, CollectorError> {
    let file = fs::File::open(path).map_err(|source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    READ_BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => read_text_with(file, path, &mut buf),
        // Not reached (nothing reads a file while holding the buffer); stay correct anyway.
        Err(_) => read_text_with(file, path, &mut Vec::new()),
    })
}

fn read_text_with(
    file: fs::File,
    path: &Path,
    buf: &mut Vec<u8>,
) -> Result<String, CollectorError> {
    buf.clear();
    buf.reserve(READ_CHUNK_BYTES);
    // procfs files are generated per read call (a seq_file walks its table again on
    // every call), so read in as few calls as possible.
    let text = file
        .take(MAX_FILE_BYTES)
        .read_to_end(buf)
        .map(|_| text_of(buf).into_owned());
    // A buffer grown by one huge file is not kept.
    if buf.capacity() > 4 * READ_CHUNK_BYTES {
        *buf = Vec::new();
    }
    text.map_err(|source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a one-value sysfs attribute with a single bounded `read` (some drivers never
/// signal end of file), trimmed of surrounding whitespace.
pub(crate) fn read_attr(path: &Path) -> Result<String, CollectorError> {
    let mut file = fs::File::open(path).map_err(|source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut buf = [0u8; 4096];
    let n = file.read(&mut buf).map_err(|source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text_of(&buf[..n]).trim().to_string())
}

/// Reads a sysfs attribute holding an unsigned integer.
pub(crate) fn read_u64(path: &Path) -> Result<u64, CollectorError> {
    let text = read_attr(path)?;
    text.parse::<u64>().map_err(|e| {
        CollectorError::parse(path, format!("{text:?} is not an unsigned integer: {e}"))
    })
}

/// Reads a sysfs attribute holding a signed integer, accepting `0x` hex like Go's
/// `ParseInt(s, 0, 64)` does for sysfs flags.
pub(crate) fn read_i64(path: &Path) -> Result<i64, CollectorError> {
    let text = read_attr(path)?;
    parse_i64_auto(&text)
        .ok_or_else(|| CollectorError::parse(path, format!("{text:?} is not an integer")))
}

/// Parses a decimal, `0x` hexadecimal or `0` octal integer with optional sign.
pub(crate) fn parse_i64_auto(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(if neg { -value } else { value })
}

/// Lists the names of the entries of a directory, sorted.
pub(crate) fn list_dir(path: &Path) -> Result<Vec<String>, CollectorError> {
    let entries = fs::read_dir(path).map_err(|source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CollectorError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Entries of `dir` whose names start with `prefix` followed by digits, sorted by that
/// number (`cpu0, cpu1, …, cpu10`). A missing directory yields an empty list.
pub(crate) fn numbered_entries(
    dir: &Path,
    prefix: &str,
) -> Result<Vec<(u64, PathBuf)>, CollectorError> {
    let names = match list_dir(dir) {
        Ok(n) => n,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<(u64, PathBuf)> = names
        .into_iter()
        .filter_map(|name| {
            let n = name.strip_prefix(prefix)?.parse::<u64>().ok()?;
            Some((n, dir.join(&name)))
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auto_radix_integers() {
        assert_eq!(parse_i64_auto("0x1003"), Some(4099));
        assert_eq!(parse_i64_auto("-1"), Some(-1));
        assert_eq!(parse_i64_auto("0"), Some(0));
        assert_eq!(parse_i64_auto("010"), Some(8));
        assert_eq!(parse_i64_auto("1500"), Some(1500));
        assert_eq!(parse_i64_auto("up"), None);
        assert_eq!(parse_i64_auto(""), None);
        assert_eq!(parse_i64_auto("0x"), None);
    }

    #[test]
    fn missing_file_is_a_read_error_naming_the_path() {
        let err = read_text(Path::new("/nonexistent/darkscrape/x")).unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("/nonexistent/darkscrape/x"));
    }
}

/// An open sysfs directory whose attributes are read relative to it (`openat`), which
/// spares the kernel resolving the whole path (and its symlinks) for every attribute.
#[derive(Debug)]
pub(crate) struct SysDir {
    fd: std::os::fd::OwnedFd,
    path: PathBuf,
}

impl SysDir {
    /// Opens `path` as a directory handle.
    pub(crate) fn open(path: &Path) -> Result<Self, CollectorError> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CollectorError::Read {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(SysDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Reads attribute `name` with one bounded `read`, trimmed.
    pub(crate) fn attr(&self, name: &str) -> Result<String, CollectorError> {
        use rustix::fs::{Mode, OFlags};
        let err = |e: rustix::io::Errno| CollectorError::Read {
            path: self.path.join(name),
            source: e.into(),
        };
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        let mut buf = [0u8; 4096];
        let n = rustix::io::read(&fd, &mut buf[..]).map_err(err)?;
        Ok(text_of(&buf[..n]).trim().to_string())
    }
}

#[cfg(test)]
mod sysdir_tests {
    use super::*;

    #[test]
    fn reads_attributes_relative_to_the_directory() {
        let d = SysDir::open(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sys/class/net/eth0"
        )))
        .unwrap();
        assert_eq!(d.attr("mtu").unwrap(), "1400");
        let e = d.attr("no_such_attribute").unwrap_err();
        assert!(e.is_not_found());
        assert!(e.to_string().contains("eth0/no_such_attribute"));
        assert!(SysDir::open(Path::new("/nonexistent/darkscrape"))
            .unwrap_err()
            .is_not_found());
    }
}

/// Reads a procfs table generated by `seq_file` whose records are at most `max_record`
/// bytes, in as few `read` calls as possible. Each `read` makes the kernel walk the table
/// from the start again (for `/proc/net/udp` that is the whole UDP hash table), and
/// `seq_file` returns less than a page only when it ran out of records; so a first read
/// that leaves more than a record's room in the page is the whole file, and the usual
/// extra read that would return end-of-file is skipped.
pub(crate) fn read_seq_table(path: &Path, max_record: usize) -> Result<String, CollectorError> {
    const PAGE: usize = 4096;
    let err = |source| CollectorError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(err)?;
    let mut bytes = vec![0u8; PAGE];
    let n = file.read(&mut bytes).map_err(err)?;
    bytes.truncate(n);
    if n + max_record >= PAGE {
        (&mut file)
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(err)?;
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod seq_table_tests {
    use super::*;

    #[test]
    fn reads_whole_files_small_and_large() {
        let dir = std::env::temp_dir().join(format!("node-exporter-seq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = "header\nline\n".to_string();
        let large: String = (0..200).map(|i| format!("{i:0>127}\n")).collect();
        for content in [&small, &large] {
            std::fs::write(dir.join("t"), content).unwrap();
            assert_eq!(&read_seq_table(&dir.join("t"), 256).unwrap(), content);
        }
        // The live table reads the same as a plain read.
        let live = read_seq_table(Path::new("/proc/net/udp"), 256).unwrap();
        assert!(live.starts_with("   sl  local_address"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod text_tests {
    use super::text_of;

    #[test]
    fn text_is_borrowed_when_valid_and_lossy_otherwise() {
        assert!(matches!(
            text_of(b"MemTotal: 1 kB\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(text_of(b"eth\xff0"), "eth\u{fffd}0");
        assert_eq!(text_of(b""), "");
    }
}
