//! The header section of a frame and the encodings of its values.
//!
//! This module owns [`Headers`], the `i32 id → bytes` collection carried by every frame, and
//! the exact value encodings of ziti-edge-protocol.md §1.2:
//!
//! | value kind | width on the wire | put | get |
//! | --- | --- | --- | --- |
//! | bool | 1 byte, exactly `00` or `01` | [`Headers::put_bool`] | [`Headers::get_bool`] |
//! | byte | 1 byte | [`Headers::put_byte`] | [`Headers::get_byte`] |
//! | u16 / u32 / u64 / i32 | 2 / 4 / 8 / 4 bytes, little-endian | `put_u16` … | `get_u16` … |
//! | string | raw UTF-8, no length, no NUL | [`Headers::put_string`] | [`Headers::get_string`] |
//! | bytes | raw | [`Headers::put_bytes`] | [`Headers::get_bytes`] |
//! | string slice | `u32 count` + (`u32 len`, bytes)* | [`Headers::put_string_slice`] | [`Headers::get_string_slice`] |
//! | u32 → bytes map | `u32 count` + (`u32 key`, `u32 len`, bytes)* | [`Headers::put_u32_bytes_map`] | [`Headers::get_u32_bytes_map`] |
//! | string → string map | `u32 count` + (`u32 klen`, k, `u32 vlen`, v)* | [`Headers::put_string_map`] | [`Headers::get_string_map`] |
//!
//! Collections hold at most [`MAX_COLLECTION_ENTRIES`] entries of at most
//! [`MAX_COLLECTION_ENTRY_BYTES`] bytes each, on both put and get.
//!
//! **Getters** return `Ok(None)` when the header is absent and `Err(HeaderError)` when it is
//! present with the wrong width or a malformed value. They never guess: Go silently treats a
//! 3-byte `u32` as absent and C reads whatever is there, so this crate refuses it instead.
//!
//! **Order and duplicates**: [`Headers`] keeps insertion order, which is the order the
//! encoder writes. Putting an id that is already present replaces its value in place (the
//! entry keeps its first position). Decoding a section that repeats an id keeps the *last*
//! value, as Go's map-based decoder does.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::consts::{header, MAX_COLLECTION_ENTRIES, MAX_COLLECTION_ENTRY_BYTES};

/// A header value that is present but cannot be read as the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The value has the wrong number of bytes for its type.
    #[error("header {id} ({}) must be {expected} bytes, found {actual}; the peer encoded it with a different type", header::name(*id))]
    WrongWidth {
        /// Header id.
        id: i32,
        /// Width the type needs.
        expected: usize,
        /// Width found.
        actual: usize,
    },
    /// A bool header holds a byte other than 0 or 1.
    #[error("header {id} ({}) is a bool but holds byte {value:#04x}; only 0 and 1 are valid", header::name(*id))]
    InvalidBool {
        /// Header id.
        id: i32,
        /// The byte found.
        value: u8,
    },
    /// A string value (or a string inside a collection) is not UTF-8.
    #[error("header {id} ({}) holds a string that is not valid UTF-8", header::name(*id))]
    InvalidUtf8 {
        /// Header id.
        id: i32,
    },
    /// An encoded collection ends before one of its entries does.
    #[error("header {id} ({}) holds a collection truncated at byte {offset}", header::name(*id))]
    TruncatedCollection {
        /// Header id.
        id: i32,
        /// Offset inside the value where more bytes were needed.
        offset: usize,
    },
    /// An encoded collection has bytes after its last entry.
    #[error("header {id} ({}) holds {extra} bytes after the last collection entry", header::name(*id))]
    TrailingBytes {
        /// Header id.
        id: i32,
        /// Number of unused bytes.
        extra: usize,
    },
    /// A collection has more entries than the protocol allows.
    #[error("header {id} ({}) holds {count} entries; at most {max} are allowed", header::name(*id), max = MAX_COLLECTION_ENTRIES)]
    TooManyEntries {
        /// Header id.
        id: i32,
        /// Entry count found or requested.
        count: usize,
    },
    /// A collection string or entry is longer than the protocol allows.
    #[error("header {id} ({}) holds an entry of {len} bytes; at most {max} are allowed", header::name(*id), max = MAX_COLLECTION_ENTRY_BYTES)]
    EntryTooLong {
        /// Header id.
        id: i32,
        /// Length found or requested.
        len: usize,
    },
}

/// The headers of one frame: `i32` ids mapped to byte values, in insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(i32, Bytes)>,
}

impl Headers {
    /// An empty header collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct header ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether header `id` is present.
    pub fn contains(&self, id: i32) -> bool {
        self.entries.iter().any(|(k, _)| *k == id)
    }

    /// Iterate over `(id, value)` in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Bytes)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// Remove header `id`, returning its value.
    pub fn remove(&mut self, id: i32) -> Option<Bytes> {
        let pos = self.entries.iter().position(|(k, _)| *k == id)?;
        Some(self.entries.remove(pos).1)
    }

    /// Number of bytes the header section takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.entries.iter().map(|(_, v)| 8 + v.len()).sum()
    }

    /// Append the wire form (`key i32 LE, len u32 LE, value`)* to `dst`.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        for (id, value) in &self.entries {
            dst.put_i32_le(*id);
            // Frame encoding refuses sections whose total exceeds i32::MAX, so each value fits.
            dst.put_u32_le(value.len() as u32);
            dst.put_slice(value);
        }
    }

    /// Set header `id` to raw bytes (replacing an existing value in place).
    pub fn put_bytes(&mut self, id: i32, value: impl Into<Bytes>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == id) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((id, value)),
        }
    }

    /// Set a bool header: exactly one byte, `01` for true, `00` for false.
    pub fn put_bool(&mut self, id: i32, value: bool) {
        self.put_bytes(id, Bytes::from_static(if value { &[1] } else { &[0] }));
    }

    /// Set a one-byte header.
    pub fn put_byte(&mut self, id: i32, value: u8) {
        self.put_bytes(id, Bytes::copy_from_slice(&[value]));
    }

    /// Set a `u16` header (2 bytes LE).
    pub fn put_u16(&mut self, id: i32, value: u16) {
        self.put_bytes(id, Bytes::copy_from_slice(&value.to_le_bytes()));
    }

    /// Set a `u32` header (4 bytes LE).
    pub fn put_u32(&mut self, id: i32, value: u32) {
        self.put_bytes(id, Bytes::copy_from_slice(&value.to_le_bytes()));
    }

    /// Set an `i32` header (4 bytes LE).
    pub fn put_i32(&mut self, id: i32, value: i32) {
        self.put_bytes(id, Bytes::copy_from_slice(&value.to_le_bytes()));
    }

    /// Set a `u64` header (8 bytes LE).
    pub fn put_u64(&mut self, id: i32, value: u64) {
        self.put_bytes(id, Bytes::copy_from_slice(&value.to_le_bytes()));
    }

    /// Set a string header (raw UTF-8, no length prefix).
    pub fn put_string(&mut self, id: i32, value: &str) {
        self.put_bytes(id, Bytes::copy_from_slice(value.as_bytes()));
    }

    /// Set a string slice header. An empty slice encodes as an empty value.
    ///
    /// Fails if there are more than 128 strings or one is longer than 8192 bytes.
    pub fn put_string_slice<S: AsRef<str>>(
        &mut self,
        id: i32,
        values: &[S],
    ) -> Result<(), HeaderError> {
        check_count(id, values.len())?;
        let mut out = BytesMut::new();
        if !values.is_empty() {
            out.put_u32_le(values.len() as u32);
            for value in values {
                put_lp(id, &mut out, value.as_ref().as_bytes())?;
            }
        }
        self.put_bytes(id, out.freeze());
        Ok(())
    }

    /// Set a `u32 → bytes` map header, entries in ascending key order.
    ///
    /// Fails if there are more than 128 entries or a value is longer than 8192 bytes.
    pub fn put_u32_bytes_map(
        &mut self,
        id: i32,
        map: &BTreeMap<u32, Bytes>,
    ) -> Result<(), HeaderError> {
        check_count(id, map.len())?;
        let mut out = BytesMut::new();
        out.put_u32_le(map.len() as u32);
        for (key, value) in map {
            out.put_u32_le(*key);
            put_lp(id, &mut out, value)?;
        }
        self.put_bytes(id, out.freeze());
        Ok(())
    }

    /// Set a `string → string` map header, entries in ascending key order.
    ///
    /// Fails if there are more than 128 entries or a key or value is longer than 8192 bytes.
    pub fn put_string_map(
        &mut self,
        id: i32,
        map: &BTreeMap<String, String>,
    ) -> Result<(), HeaderError> {
        check_count(id, map.len())?;
        let mut out = BytesMut::new();
        out.put_u32_le(map.len() as u32);
        for (key, value) in map {
            put_lp(id, &mut out, key.as_bytes())?;
            put_lp(id, &mut out, value.as_bytes())?;
        }
        self.put_bytes(id, out.freeze());
        Ok(())
    }

    /// The raw value of header `id`, if present.
    pub fn get_bytes(&self, id: i32) -> Option<&Bytes> {
        self.entries.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
    }

    fn fixed<const N: usize>(&self, id: i32) -> Result<Option<[u8; N]>, HeaderError> {
        match self.get_bytes(id) {
            None => Ok(None),
            Some(v) => {
                <[u8; N]>::try_from(v.as_ref())
                    .map(Some)
                    .map_err(|_| HeaderError::WrongWidth {
                        id,
                        expected: N,
                        actual: v.len(),
                    })
            }
        }
    }

    /// A bool header: must be exactly one byte, `00` or `01`.
    pub fn get_bool(&self, id: i32) -> Result<Option<bool>, HeaderError> {
        match self.fixed::<1>(id)? {
            None => Ok(None),
            Some([0]) => Ok(Some(false)),
            Some([1]) => Ok(Some(true)),
            Some([value]) => Err(HeaderError::InvalidBool { id, value }),
        }
    }

    /// A bool header where absence means false.
    pub fn get_flag(&self, id: i32) -> Result<bool, HeaderError> {
        Ok(self.get_bool(id)?.unwrap_or(false))
    }

    /// A one-byte header.
    pub fn get_byte(&self, id: i32) -> Result<Option<u8>, HeaderError> {
        Ok(self.fixed::<1>(id)?.map(|[b]| b))
    }

    /// A `u16` header: exactly 2 bytes LE.
    pub fn get_u16(&self, id: i32) -> Result<Option<u16>, HeaderError> {
        Ok(self.fixed::<2>(id)?.map(u16::from_le_bytes))
    }

    /// A `u32` header: exactly 4 bytes LE.
    pub fn get_u32(&self, id: i32) -> Result<Option<u32>, HeaderError> {
        Ok(self.fixed::<4>(id)?.map(u32::from_le_bytes))
    }

    /// An `i32` header: exactly 4 bytes LE.
    pub fn get_i32(&self, id: i32) -> Result<Option<i32>, HeaderError> {
        Ok(self.fixed::<4>(id)?.map(i32::from_le_bytes))
    }

    /// A `u64` header: exactly 8 bytes LE.
    pub fn get_u64(&self, id: i32) -> Result<Option<u64>, HeaderError> {
        Ok(self.fixed::<8>(id)?.map(u64::from_le_bytes))
    }

    /// A string header: must be valid UTF-8.
    pub fn get_string(&self, id: i32) -> Result<Option<String>, HeaderError> {
        match self.get_bytes(id) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(|s| Some(s.to_owned()))
                .map_err(|_| HeaderError::InvalidUtf8 { id }),
        }
    }

    /// A string slice header. An empty value decodes as an empty slice.
    pub fn get_string_slice(&self, id: i32) -> Result<Option<Vec<String>>, HeaderError> {
        let Some(value) = self.get_bytes(id) else {
            return Ok(None);
        };
        if value.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut reader = CollectionReader::new(id, value);
        let count = reader.count()?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(reader.string()?);
        }
        reader.finish()?;
        Ok(Some(out))
    }

    /// A `u32 → bytes` map header. A repeated key keeps its last value.
    pub fn get_u32_bytes_map(&self, id: i32) -> Result<Option<BTreeMap<u32, Bytes>>, HeaderError> {
        self.get_map(id, |r| Ok((r.u32()?, r.lp()?)))
    }

    /// A `string → string` map header. A repeated key keeps its last value.
    pub fn get_string_map(&self, id: i32) -> Result<Option<BTreeMap<String, String>>, HeaderError> {
        self.get_map(id, |r| Ok((r.string()?, r.string()?)))
    }

    /// A map header: a `u32` count, then `count` entries read by `entry`, nothing after.
    fn get_map<K: Ord, V>(
        &self,
        id: i32,
        mut entry: impl FnMut(&mut CollectionReader) -> Result<(K, V), HeaderError>,
    ) -> Result<Option<BTreeMap<K, V>>, HeaderError> {
        let Some(value) = self.get_bytes(id) else {
            return Ok(None);
        };
        let mut reader = CollectionReader::new(id, value);
        let count = reader.count()?;
        let mut out = BTreeMap::new();
        for _ in 0..count {
            let (key, value) = entry(&mut reader)?;
            out.insert(key, value);
        }
        reader.finish()?;
        Ok(Some(out))
    }

    /// Insert a decoded entry: a repeated id replaces the earlier value (last wins).
    pub(crate) fn insert_decoded(&mut self, id: i32, value: Bytes) {
        self.put_bytes(id, value);
    }
}

impl FromIterator<(i32, Bytes)> for Headers {
    fn from_iter<T: IntoIterator<Item = (i32, Bytes)>>(iter: T) -> Self {
        let mut headers = Headers::new();
        for (id, value) in iter {
            headers.put_bytes(id, value);
        }
        headers
    }
}

fn check_count(id: i32, count: usize) -> Result<(), HeaderError> {
    if count > MAX_COLLECTION_ENTRIES as usize {
        return Err(HeaderError::TooManyEntries { id, count });
    }
    Ok(())
}

fn put_lp(id: i32, out: &mut BytesMut, value: &[u8]) -> Result<(), HeaderError> {
    if value.len() > MAX_COLLECTION_ENTRY_BYTES as usize {
        return Err(HeaderError::EntryTooLong {
            id,
            len: value.len(),
        });
    }
    out.put_u32_le(value.len() as u32);
    out.put_slice(value);
    Ok(())
}

/// Reads the length-prefixed pieces of a collection value, checking every bound.
struct CollectionReader<'a> {
    id: i32,
    value: &'a Bytes,
    offset: usize,
}

impl<'a> CollectionReader<'a> {
    fn new(id: i32, value: &'a Bytes) -> Self {
        Self {
            id,
            value,
            offset: 0,
        }
    }

    fn take(&mut self, len: usize) -> Result<Bytes, HeaderError> {
        let end = self
            .offset
            .checked_add(len)
            .filter(|end| *end <= self.value.len())
            .ok_or(HeaderError::TruncatedCollection {
                id: self.id,
                offset: self.offset,
            })?;
        let out = self.value.slice(self.offset..end);
        self.offset = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, HeaderError> {
        let raw = self.take(4)?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    fn count(&mut self) -> Result<usize, HeaderError> {
        let count = self.u32()? as usize;
        check_count(self.id, count)?;
        Ok(count)
    }

    fn lp(&mut self) -> Result<Bytes, HeaderError> {
        let len = self.u32()? as usize;
        if len > MAX_COLLECTION_ENTRY_BYTES as usize {
            return Err(HeaderError::EntryTooLong { id: self.id, len });
        }
        self.take(len)
    }

    fn string(&mut self) -> Result<String, HeaderError> {
        let raw = self.lp()?;
        String::from_utf8(raw.to_vec()).map_err(|_| HeaderError::InvalidUtf8 { id: self.id })
    }

    fn finish(self) -> Result<(), HeaderError> {
        let extra = self.value.len() - self.offset;
        if extra != 0 {
            return Err(HeaderError::TrailingBytes { id: self.id, extra });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_in_place_and_keeps_order() {
        let mut h = Headers::new();
        h.put_u32(1000, 1);
        h.put_string(1002, "a");
        h.put_u32(1000, 2);
        let ids: Vec<i32> = h.iter().map(|(k, _)| k).collect();
        assert_eq!(ids, vec![1000, 1002]);
        assert_eq!(h.get_u32(1000).unwrap(), Some(2));
    }

    #[test]
    fn collection_count_over_limit_is_rejected_before_reading() {
        let mut h = Headers::new();
        h.put_bytes(1031, Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
        assert!(matches!(
            h.get_string_slice(1031),
            Err(HeaderError::TooManyEntries { .. })
        ));
    }
}
