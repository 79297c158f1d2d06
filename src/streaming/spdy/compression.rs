//! SPDY/3 name/value header blocks and their zlib compression.
//!
//! A header block is a 32-bit count of pairs, then for each pair a 32-bit length and the name
//! (lower case), a 32-bit length and the value (several values are separated by NUL bytes); all
//! integers big-endian. Each direction of a session compresses its blocks with one zlib stream
//! that starts from [`DICTIONARY`] and is flushed (Z_SYNC_FLUSH) after every block.

use super::SpdyError;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Largest decompressed header block accepted.
const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// The zlib dictionary of SPDY/3 header compression (section 2.6.10.1 of the SPDY/3 draft):
/// length-prefixed common header names and values, then status lines, dates and media types.
#[rustfmt::skip]
pub const DICTIONARY: &[u8; 1423] = b"\0\0\0\x07options\0\0\0\x04head\0\0\0\x04post\0\0\0\x03put\0\0\0\x06delete\
    \0\0\0\x05trace\0\0\0\x06accept\0\0\0\x0eaccept-charset\0\0\0\x0faccept-encoding\
    \0\0\0\x0faccept-language\0\0\0\x0daccept-ranges\0\0\0\x03age\0\0\0\x05allow\
    \0\0\0\x0dauthorization\0\0\0\x0dcache-control\0\0\0\x0aconnection\0\0\0\x0ccontent-base\
    \0\0\0\x10content-encoding\0\0\0\x10content-language\0\0\0\x0econtent-length\
    \0\0\0\x10content-location\0\0\0\x0bcontent-md5\0\0\0\x0dcontent-range\
    \0\0\0\x0ccontent-type\0\0\0\x04date\0\0\0\x04etag\0\0\0\x06expect\0\0\0\x07expires\
    \0\0\0\x04from\0\0\0\x04host\0\0\0\x08if-match\0\0\0\x11if-modified-since\
    \0\0\0\x0dif-none-match\0\0\0\x08if-range\0\0\0\x13if-unmodified-since\
    \0\0\0\x0dlast-modified\0\0\0\x08location\0\0\0\x0cmax-forwards\0\0\0\x06pragma\
    \0\0\0\x12proxy-authenticate\0\0\0\x13proxy-authorization\0\0\0\x05range\
    \0\0\0\x07referer\0\0\0\x0bretry-after\0\0\0\x06server\0\0\0\x02te\0\0\0\x07trailer\
    \0\0\0\x11transfer-encoding\0\0\0\x07upgrade\0\0\0\x0auser-agent\0\0\0\x04vary\
    \0\0\0\x03via\0\0\0\x07warning\0\0\0\x10www-authenticate\0\0\0\x06method\0\0\0\x03get\
    \0\0\0\x06status\0\0\0\x06200 OK\0\0\0\x07version\0\0\0\x08HTTP/1.1\0\0\0\x03url\
    \0\0\0\x06public\0\0\0\x0aset-cookie\0\0\0\x0akeep-alive\0\0\0\x06origin\
    100101201202205206300302303304305306307402405406407408409410411412413414415416417502\
    504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Re\
    quest401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Impl\
    emented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00\
    :00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,imag\
    e/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivate\
    max-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// Header pairs, names in lower case, in wire order.
pub type Headers = Vec<(String, String)>;

/// The value of header `name` (compared without regard to case), if present.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Compresses the header blocks one direction of a session sends.
pub struct HeaderEncoder {
    zlib: Compress,
}

impl HeaderEncoder {
    /// A fresh compression context primed with the dictionary.
    pub fn new() -> Result<HeaderEncoder, SpdyError> {
        let mut zlib = Compress::new(Compression::default(), true);
        zlib.set_dictionary(DICTIONARY)
            .map_err(|e| SpdyError::Compression(e.to_string()))?;
        Ok(HeaderEncoder { zlib })
    }

    /// The compressed form of `headers`.
    pub fn encode(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let mut plain = Vec::new();
        put_len(&mut plain, headers.len())?;
        for (name, value) in headers {
            put_len(&mut plain, name.len())?;
            plain.extend(name.to_ascii_lowercase().as_bytes());
            put_len(&mut plain, value.len())?;
            plain.extend(value.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut consumed = 0;
        loop {
            out.reserve(256);
            let before = self.zlib.total_in();
            self.zlib
                .compress_vec(&plain[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            consumed += (self.zlib.total_in() - before) as usize;
            // Sync flush is complete once all input is in and zlib left output room unused.
            if consumed == plain.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// Decompresses the header blocks one direction of a session receives.
pub struct HeaderDecoder {
    zlib: Decompress,
}

impl HeaderDecoder {
    /// A fresh decompression context (the dictionary is supplied when zlib asks for it).
    pub fn new() -> HeaderDecoder {
        HeaderDecoder {
            zlib: Decompress::new(true),
        }
    }

    /// The headers of a compressed block.
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let plain = self.inflate(block)?;
        parse_block(&plain)
    }

    fn inflate(&mut self, block: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(block.len() * 4 + 256);
        let mut consumed = 0;
        loop {
            if out.len() > MAX_HEADER_BLOCK {
                return Err(SpdyError::Protocol("header block too large".into()));
            }
            out.reserve(1024);
            let (before_in, before_out) = (self.zlib.total_in(), self.zlib.total_out());
            let result =
                self.zlib
                    .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.zlib.total_in() - before_in) as usize;
            let progressed =
                self.zlib.total_in() != before_in || self.zlib.total_out() != before_out;
            match result {
                Ok(Status::StreamEnd) => return Ok(out),
                Ok(_) if consumed == block.len() && out.len() < out.capacity() => return Ok(out),
                Ok(_) if !progressed && consumed == block.len() => return Ok(out),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| SpdyError::Compression(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Compression(e.to_string())),
            }
        }
    }
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder::new()
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), SpdyError> {
    let len = u32::try_from(len).map_err(|_| SpdyError::Protocol("header too long".into()))?;
    out.extend(len.to_be_bytes());
    Ok(())
}

fn parse_block(mut plain: &[u8]) -> Result<Headers, SpdyError> {
    let truncated = || SpdyError::Protocol("truncated header block".into());
    let take = |plain: &mut &[u8]| -> Result<Vec<u8>, SpdyError> {
        let (len, rest) = plain.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(truncated());
        }
        let (bytes, rest) = rest.split_at(len);
        *plain = rest;
        Ok(bytes.to_vec())
    };
    let (count, rest) = plain.split_first_chunk::<4>().ok_or_else(truncated)?;
    let count = u32::from_be_bytes(*count);
    plain = rest;
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = String::from_utf8_lossy(&take(&mut plain)?).to_ascii_lowercase();
        let value = take(&mut plain)?;
        for value in value.split(|&b| b == 0) {
            headers.push((name.clone(), String::from_utf8_lossy(value).into_owned()));
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_spdy3_one() {
        // The Adler-32 of the SPDY/3 dictionary, which every SPDY/3 header stream announces
        // after its two zlib header bytes.
        let mut zlib = Compress::new(Compression::default(), true);
        assert_eq!(zlib.set_dictionary(DICTIONARY).unwrap(), 0xe3c6_a7c2);
    }

    #[test]
    fn blocks_round_trip_through_one_context_per_direction() {
        let mut encoder = HeaderEncoder::new().unwrap();
        let mut decoder = HeaderDecoder::new();
        for i in 0..5 {
            let headers = vec![
                ("streamtype".to_string(), "stdout".to_string()),
                ("requestid".to_string(), i.to_string()),
            ];
            let block = encoder.encode(&headers).unwrap();
            if i == 0 {
                assert_eq!(&block[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
            }
            assert_eq!(decoder.decode(&block).unwrap(), headers);
        }
        assert_eq!(
            decoder
                .decode(&encoder.encode(&Vec::new()).unwrap())
                .unwrap(),
            Vec::new()
        );
    }
}
