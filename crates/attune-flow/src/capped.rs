//! Reading a small file from outside the process (a configuration layer, a snapset): only a
//! regular file, checked before opening (a FIFO cannot block, `/dev/zero` cannot fill memory) and
//! again once open (the file opened may not be the one looked at), and never more than a limit,
//! checked before reading and while reading (a file that grows meanwhile).

use std::io::Read;
use std::path::Path;

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CappedError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("not a regular file but {found}")]
    NotAFile { found: &'static str },
    #[error("{size} bytes, more than the {limit} allowed")]
    TooLarge { size: u64, limit: u64 },
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub(crate) fn read(path: &Path, limit: u64) -> Result<Vec<u8>, CappedError> {
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(CappedError::NotAFile {
                found: file_kind(&meta.file_type()),
            });
        }
        if meta.len() > limit {
            return Err(CappedError::TooLarge {
                size: meta.len(),
                limit,
            });
        }
        Ok(())
    };
    check(&std::fs::metadata(path).map_err(CappedError::Io)?)?;
    let file = std::fs::File::open(path).map_err(CappedError::Io)?;
    check(&file.metadata().map_err(CappedError::Io)?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(CappedError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(CappedError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// What a file that is not a regular file is, in words.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}
