//! SPDY/3 frames and their wire form.
//!
//! ```text
//! control frame:  |1| version (15) | type (16) |  flags (8) | length (24) |  payload
//! data frame:     |0| stream id (31)           |  flags (8) | length (24) |  payload
//! ```
//!
//! Integers are big-endian. Version is 3. Flags: FIN = 0x01 on data frames, SYN_STREAM,
//! SYN_REPLY and HEADERS; UNIDIRECTIONAL = 0x02 on SYN_STREAM; CLEAR_SETTINGS = 0x01 on
//! SETTINGS.

use super::SpdyError;
use super::compression::{HeaderDecoder, HeaderEncoder, Headers};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version crius speaks.
pub const VERSION: u16 = 3;
/// FIN: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// UNIDIRECTIONAL (SYN_STREAM): the receiver may not send on the stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// SETTINGS id of the initial per-stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// Largest payload one frame carries (the length field has 24 bits).
pub const MAX_PAYLOAD: usize = 0x00ff_ffff;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes crius sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum RstStatus {
    /// PROTOCOL_ERROR.
    ProtocolError = 1,
    /// INVALID_STREAM.
    InvalidStream = 2,
    /// REFUSED_STREAM.
    RefusedStream = 3,
    /// CANCEL.
    Cancel = 5,
    /// INTERNAL_ERROR.
    InternalError = 6,
    /// FLOW_CONTROL_ERROR.
    FlowControlError = 7,
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Stream data.
    Data {
        /// Stream.
        stream_id: u32,
        /// Last frame of the sender on this stream.
        fin: bool,
        /// Payload.
        data: Vec<u8>,
    },
    /// Opens a stream.
    SynStream {
        /// New stream (odd when the client opens it).
        stream_id: u32,
        /// Stream it is associated with (0: none).
        associated_to: u32,
        /// Priority, 0 (highest) to 7.
        priority: u8,
        /// No data follows from the sender.
        fin: bool,
        /// The receiver must not send.
        unidirectional: bool,
        /// Headers.
        headers: Headers,
    },
    /// Accepts a stream.
    SynReply {
        /// Stream.
        stream_id: u32,
        /// No data follows from the sender.
        fin: bool,
        /// Headers.
        headers: Headers,
    },
    /// Ends a stream abnormally.
    RstStream {
        /// Stream.
        stream_id: u32,
        /// Status code.
        status: u32,
    },
    /// Session settings: (flags, id, value) entries.
    Settings {
        /// CLEAR_SETTINGS flag.
        clear: bool,
        /// Entries.
        entries: Vec<(u8, u32, u32)>,
    },
    /// Liveness probe, echoed by the receiver when the other side started it.
    Ping {
        /// Id (odd from the client, even from the server).
        id: u32,
    },
    /// The sender accepts no new streams.
    GoAway {
        /// Last stream the sender handled.
        last_good_stream_id: u32,
        /// Status code (0 OK).
        status: u32,
    },
    /// More headers on a stream.
    Headers {
        /// Stream.
        stream_id: u32,
        /// Last frame of the sender.
        fin: bool,
        /// Headers.
        headers: Headers,
    },
    /// More room in the receiver's window (stream 0: the session's, SPDY/3.1).
    WindowUpdate {
        /// Stream, or 0 for the session.
        stream_id: u32,
        /// Bytes added to the window.
        delta: u32,
    },
    /// A control frame of a type crius ignores (e.g. CREDENTIAL).
    Ignored {
        /// Frame type.
        frame_type: u16,
    },
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend(value.to_be_bytes());
}

fn control_header(
    out: &mut Vec<u8>,
    frame_type: u16,
    flags: u8,
    length: usize,
) -> Result<(), SpdyError> {
    if length > MAX_PAYLOAD {
        return Err(SpdyError::Protocol(format!(
            "frame of {length} bytes is too long"
        )));
    }
    out.extend((0x8000 | VERSION).to_be_bytes());
    out.extend(frame_type.to_be_bytes());
    put_u32(out, (u32::from(flags) << 24) | length as u32);
    Ok(())
}

impl Frame {
    /// Appends the wire form of the frame to `out`, compressing headers with `headers`.
    pub fn encode(&self, headers: &mut HeaderEncoder, out: &mut Vec<u8>) -> Result<(), SpdyError> {
        let flag = |set: bool, bit: u8| if set { bit } else { 0 };
        match self {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                if data.len() > MAX_PAYLOAD {
                    return Err(SpdyError::Protocol("data frame too long".into()));
                }
                put_u32(out, stream_id & 0x7fff_ffff);
                put_u32(
                    out,
                    (u32::from(flag(*fin, FLAG_FIN)) << 24) | data.len() as u32,
                );
                out.extend(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                fin,
                unidirectional,
                headers: pairs,
            } => {
                let block = headers.encode(pairs)?;
                let flags = flag(*fin, FLAG_FIN) | flag(*unidirectional, FLAG_UNIDIRECTIONAL);
                control_header(out, TYPE_SYN_STREAM, flags, 10 + block.len())?;
                put_u32(out, stream_id & 0x7fff_ffff);
                put_u32(out, associated_to & 0x7fff_ffff);
                out.push((priority & 0x07) << 5);
                out.push(0); // credential slot
                out.extend(block);
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers: pairs,
            }
            | Frame::Headers {
                stream_id,
                fin,
                headers: pairs,
            } => {
                let frame_type = if matches!(self, Frame::SynReply { .. }) {
                    TYPE_SYN_REPLY
                } else {
                    TYPE_HEADERS
                };
                let block = headers.encode(pairs)?;
                control_header(out, frame_type, flag(*fin, FLAG_FIN), 4 + block.len())?;
                put_u32(out, stream_id & 0x7fff_ffff);
                out.extend(block);
            }
            Frame::RstStream { stream_id, status } => {
                control_header(out, TYPE_RST_STREAM, 0, 8)?;
                put_u32(out, stream_id & 0x7fff_ffff);
                put_u32(out, *status);
            }
            Frame::Settings { clear, entries } => {
                control_header(
                    out,
                    TYPE_SETTINGS,
                    flag(*clear, 0x01),
                    4 + 8 * entries.len(),
                )?;
                put_u32(out, entries.len() as u32);
                for (flags, id, value) in entries {
                    put_u32(out, (u32::from(*flags) << 24) | (id & 0x00ff_ffff));
                    put_u32(out, *value);
                }
            }
            Frame::Ping { id } => {
                control_header(out, TYPE_PING, 0, 4)?;
                put_u32(out, *id);
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                control_header(out, TYPE_GOAWAY, 0, 8)?;
                put_u32(out, last_good_stream_id & 0x7fff_ffff);
                put_u32(out, *status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control_header(out, TYPE_WINDOW_UPDATE, 0, 8)?;
                put_u32(out, stream_id & 0x7fff_ffff);
                put_u32(out, delta & 0x7fff_ffff);
            }
            Frame::Ignored { .. } => {}
        }
        Ok(())
    }

    /// Reads one frame; `Ok(None)` at a clean end of the connection between frames.
    pub async fn read<R: AsyncRead + Unpin>(
        reader: &mut R,
        headers: &mut HeaderDecoder,
    ) -> Result<Option<Frame>, SpdyError> {
        let mut head = [0u8; 8];
        match reader.read_exact(&mut head[..1]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        reader.read_exact(&mut head[1..]).await?;
        let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let mut payload = vec![0u8; length];
        reader.read_exact(&mut payload).await?;
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: first & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: payload,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Protocol(format!(
                "unsupported SPDY version {version}"
            )));
        }
        Self::control((first & 0xffff) as u16, flags, &payload, headers).map(Some)
    }

    fn control(
        frame_type: u16,
        flags: u8,
        payload: &[u8],
        headers: &mut HeaderDecoder,
    ) -> Result<Frame, SpdyError> {
        let word = |at: usize| -> Result<u32, SpdyError> {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| {
                    SpdyError::Protocol(format!("control frame of type {frame_type} is too short"))
                })
        };
        let fin = flags & FLAG_FIN != 0;
        Ok(match frame_type {
            TYPE_SYN_STREAM => {
                if payload.len() < 10 {
                    return Err(SpdyError::Protocol("SYN_STREAM too short".into()));
                }
                Frame::SynStream {
                    stream_id: word(0)? & 0x7fff_ffff,
                    associated_to: word(4)? & 0x7fff_ffff,
                    priority: payload[8] >> 5,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: headers.decode(&payload[10..])?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                let stream_id = word(0)? & 0x7fff_ffff;
                let pairs = headers.decode(&payload[4..])?;
                if frame_type == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers: pairs,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers: pairs,
                    }
                }
            }
            TYPE_RST_STREAM => Frame::RstStream {
                stream_id: word(0)? & 0x7fff_ffff,
                status: word(4)?,
            },
            TYPE_SETTINGS => {
                let count = word(0)? as usize;
                let mut entries = Vec::with_capacity(count.min(64));
                for i in 0..count {
                    let id = word(4 + 8 * i)?;
                    entries.push(((id >> 24) as u8, id & 0x00ff_ffff, word(8 + 8 * i)?));
                }
                Frame::Settings {
                    clear: flags & 0x01 != 0,
                    entries,
                }
            }
            TYPE_PING => Frame::Ping { id: word(0)? },
            TYPE_GOAWAY => Frame::GoAway {
                last_good_stream_id: word(0)? & 0x7fff_ffff,
                status: word(4).unwrap_or(0),
            },
            TYPE_WINDOW_UPDATE => Frame::WindowUpdate {
                stream_id: word(0)? & 0x7fff_ffff,
                delta: word(4)? & 0x7fff_ffff,
            },
            other => Frame::Ignored { frame_type: other },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_frame_round_trips() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                fin: false,
                unidirectional: true,
                headers: vec![("streamtype".into(), "error".into())],
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: Vec::new(),
            },
            Frame::Data {
                stream_id: 1,
                fin: true,
                data: b"hello".to_vec(),
            },
            Frame::RstStream {
                stream_id: 3,
                status: RstStatus::Cancel as u32,
            },
            Frame::Settings {
                clear: false,
                entries: vec![(0, SETTINGS_INITIAL_WINDOW_SIZE, 65536)],
            },
            Frame::Ping { id: 1 },
            Frame::GoAway {
                last_good_stream_id: 5,
                status: 0,
            },
            Frame::Headers {
                stream_id: 1,
                fin: true,
                headers: vec![("a".into(), "b".into())],
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 1000,
            },
        ];
        let mut encoder = HeaderEncoder::new().unwrap();
        let mut wire = Vec::new();
        for frame in &frames {
            frame.encode(&mut encoder, &mut wire).unwrap();
        }
        let mut decoder = HeaderDecoder::new();
        let mut reader = wire.as_slice();
        for frame in &frames {
            assert_eq!(
                Frame::read(&mut reader, &mut decoder)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(frame)
            );
        }
        assert_eq!(Frame::read(&mut reader, &mut decoder).await.unwrap(), None);
    }
}
