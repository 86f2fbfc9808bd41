//! Channel-level messages (ziti-edge-protocol.md §1.5, §1.7): the Hello and the router's
//! reply with its version and capabilities, plain Results, and latency probes.

use super::*;

/// Hello (content type 0): the first message on a channel, from the dialing side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hello {
    /// Header 1002: the API session token.
    pub session_token: Bytes,
    /// Body: an unauthenticated identifier (Go: cert CN; C: `ziti-sdk-c[n]@host`).
    pub identifier: Bytes,
    /// Header 0: logical connection id (grouped channels).
    pub connection_id: Option<String>,
    /// Header 9: request a multi-underlay channel. Do not set unless implemented.
    pub is_grouped: bool,
    /// Header 7: underlay type of a grouped channel.
    pub underlay_type: Option<String>,
    /// Header 11: first underlay of a group.
    pub is_first_group_connection: bool,
    /// Header 10: group secret of an additional underlay.
    pub group_secret: Option<Bytes>,
    /// Header 1023: the C SDK advertises inspect support in its hello.
    pub supports_inspect: bool,
}

impl Hello {
    /// Build the frame. Headers are written in the order 1002, 0, 9, 7, 11, 10, 1023.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bytes(h::SESSION_TOKEN, self.session_token.clone());
        put_opt_string(&mut hd, h::CONNECTION_ID, &self.connection_id);
        put_true(&mut hd, h::IS_GROUPED, self.is_grouped);
        put_opt_string(&mut hd, h::TYPE, &self.underlay_type);
        put_true(
            &mut hd,
            h::IS_FIRST_GROUP_CONNECTION,
            self.is_first_group_connection,
        );
        put_opt_bytes(&mut hd, h::GROUP_SECRET, &self.group_secret);
        put_true(&mut hd, h::SUPPORTS_INSPECT, self.supports_inspect);
        frame(ct::HELLO, sequence, hd, self.identifier.clone())
    }

    /// Parse a hello. Header 1002 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::HELLO, "Hello")?;
        Ok(Self {
            session_token: r.required(h::SESSION_TOKEN, r.bytes(h::SESSION_TOKEN))?,
            identifier: f.body.clone(),
            connection_id: r.string(h::CONNECTION_ID)?,
            is_grouped: r.flag(h::IS_GROUPED)?,
            underlay_type: r.string(h::TYPE)?,
            is_first_group_connection: r.flag(h::IS_FIRST_GROUP_CONNECTION)?,
            group_secret: r.bytes(h::GROUP_SECRET),
            supports_inspect: r.flag(h::SUPPORTS_INSPECT)?,
        })
    }
}

/// The router's `version|revision|buildDate|os|arch` (header 4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterVersion {
    /// Version, e.g. `v2.0.3`.
    pub version: String,
    /// Source revision.
    pub revision: String,
    /// Build date.
    pub build_date: String,
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub arch: String,
}

impl RouterVersion {
    /// Parse the pipe-joined form; missing fields are left empty.
    pub fn parse(s: &str) -> Self {
        let mut parts = s.splitn(5, '|').map(str::to_owned);
        Self {
            version: parts.next().unwrap_or_default(),
            revision: parts.next().unwrap_or_default(),
            build_date: parts.next().unwrap_or_default(),
            os: parts.next().unwrap_or_default(),
            arch: parts.next().unwrap_or_default(),
        }
    }

    /// The pipe-joined wire form.
    pub fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.version, self.revision, self.build_date, self.os, self.arch
        )
    }
}

/// Header 1039: a big-endian, arbitrary-length bitmask of router capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterCapabilities {
    bytes: Bytes,
}

impl RouterCapabilities {
    /// Wrap the raw header value.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self { bytes }
    }

    /// The minimal big-endian encoding with the given bits set.
    pub fn from_bits(bits: &[u32]) -> Self {
        let Some(max) = bits.iter().copied().max() else {
            return Self::default();
        };
        let len = max as usize / 8 + 1;
        let mut out = vec![0u8; len];
        for bit in bits {
            let idx = len - 1 - *bit as usize / 8;
            out[idx] |= 1 << (bit % 8);
        }
        Self {
            bytes: Bytes::from(out),
        }
    }

    /// The raw header value.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Whether bit `bit` is set (bit n is `(b[len-1-n/8] >> (n%8)) & 1`).
    pub fn has(&self, bit: u32) -> bool {
        let byte = bit as usize / 8;
        if byte >= self.bytes.len() {
            return false;
        }
        (self.bytes[self.bytes.len() - 1 - byte] >> (bit % 8)) & 1 == 1
    }

    /// All set bits, ascending.
    pub fn bits(&self) -> Vec<u32> {
        let total = self.bytes.len() as u32 * 8;
        (0..total).filter(|b| self.has(*b)).collect()
    }

    /// Whether the router supports sessionless dial (bit 2).
    pub fn connect_v2(&self) -> bool {
        self.has(capability::CONNECT_V2)
    }
}

/// The router's reply to a hello: a Result (content type 2) with router headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelloReply {
    /// Header 2: success.
    pub success: bool,
    /// Body: empty on success, the rejection message otherwise.
    pub message: Bytes,
    /// Header 0: router-assigned connection id.
    pub connection_id: Option<String>,
    /// Header 8: router identity id.
    pub router_id: Option<String>,
    /// Header 4: router version.
    pub version: Option<RouterVersion>,
    /// Header 1024: the router sends BindSuccess.
    pub supports_bind_success: bool,
    /// Header 1032: the router supports posture checks.
    pub supports_posture_checks: bool,
    /// Header 1039: capability bitmask (main / 2.1 only).
    pub capabilities: Option<RouterCapabilities>,
    /// Header 9: grouping confirmed.
    pub is_grouped: bool,
    /// Header 7: underlay type echoed.
    pub underlay_type: Option<String>,
    /// Header 10: group secret.
    pub group_secret: Option<Bytes>,
    /// Header 13: rejection class of a failed hello.
    pub reject_class: Option<u32>,
}

impl HelloReply {
    /// Build the frame; the caller adds ReplyFor ([`Frame::replying_to`]).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bool(h::RESULT_SUCCESS, self.success);
        put_opt_string(&mut hd, h::CONNECTION_ID, &self.connection_id);
        put_opt_string(&mut hd, h::ID, &self.router_id);
        if let Some(v) = &self.version {
            hd.put_string(h::HELLO_VERSION, &v.encode());
        }
        put_true(
            &mut hd,
            h::SUPPORTS_BIND_SUCCESS,
            self.supports_bind_success,
        );
        put_true(
            &mut hd,
            h::SUPPORTS_POSTURE_CHECKS,
            self.supports_posture_checks,
        );
        if let Some(c) = &self.capabilities {
            hd.put_bytes(h::ROUTER_CAPABILITIES, c.as_bytes().clone());
        }
        put_true(&mut hd, h::IS_GROUPED, self.is_grouped);
        put_opt_string(&mut hd, h::TYPE, &self.underlay_type);
        put_opt_bytes(&mut hd, h::GROUP_SECRET, &self.group_secret);
        if let Some(c) = self.reject_class {
            hd.put_u32(h::HELLO_REJECT_CLASS, c);
        }
        frame(ct::RESULT, sequence, hd, self.message.clone())
    }

    /// Parse a hello reply. A missing header 2 means failure.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::RESULT, "hello reply")?;
        Ok(Self {
            success: r.flag(h::RESULT_SUCCESS)?,
            message: f.body.clone(),
            connection_id: r.string(h::CONNECTION_ID)?,
            router_id: r.string(h::ID)?,
            version: r
                .string(h::HELLO_VERSION)?
                .map(|s| RouterVersion::parse(&s)),
            supports_bind_success: r.flag(h::SUPPORTS_BIND_SUCCESS)?,
            supports_posture_checks: r.flag(h::SUPPORTS_POSTURE_CHECKS)?,
            capabilities: r
                .bytes(h::ROUTER_CAPABILITIES)
                .map(RouterCapabilities::from_bytes),
            is_grouped: r.flag(h::IS_GROUPED)?,
            underlay_type: r.string(h::TYPE)?,
            group_secret: r.bytes(h::GROUP_SECRET),
            reject_class: r.u32(h::HELLO_REJECT_CLASS)?,
        })
    }
}

/// A generic channel Result (content type 2): success flag and message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelResult {
    /// Header 2.
    pub success: bool,
    /// Body.
    pub message: Bytes,
}

impl ChannelResult {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bool(h::RESULT_SUCCESS, self.success);
        frame(ct::RESULT, sequence, hd, self.message.clone())
    }

    /// Parse a Result. A missing header 2 means failure.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::RESULT, "Result")?;
        Ok(Self {
            success: r.flag(h::RESULT_SUCCESS)?,
            message: f.body.clone(),
        })
    }
}

/// Latency probe (content type 3): header 128 carries an opaque value echoed by the reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyProbe {
    /// Header 128 (Go puts a `u64` timestamp there).
    pub probe: Bytes,
}

impl LatencyProbe {
    /// A probe carrying `timestamp` as `u64` LE.
    pub fn from_timestamp(timestamp: u64) -> Self {
        Self {
            probe: Bytes::copy_from_slice(&timestamp.to_le_bytes()),
        }
    }

    /// The probe value as a `u64` LE timestamp, if it is 8 bytes.
    pub fn timestamp(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.probe.as_ref())
            .ok()
            .map(u64::from_le_bytes)
    }

    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bytes(h::REFLECTED, self.probe.clone());
        frame(ct::LATENCY, sequence, hd, Bytes::new())
    }

    /// Parse a probe; a probe without header 128 is accepted with an empty value.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::LATENCY, "Latency")?;
        Ok(Self {
            probe: r.bytes(h::REFLECTED).unwrap_or_default(),
        })
    }

    /// The router's answer: a successful Result replying to `request` with header 128 copied.
    pub fn response(request: &Frame, sequence: i32) -> Frame {
        let mut out = ChannelResult {
            success: true,
            message: Bytes::new(),
        }
        .to_frame(sequence);
        out.reply_to(request);
        out
    }
}

/// A latency answer: a Result (2) or LatencyResponse (4) carrying the echoed header 128.
///
/// The two forms differ upstream. An edge router answers with a Result that *replies* to the
/// probe (ReplyFor, ResultSuccess, 128 copied: channel `latency.LatencyHandler`). Content type
/// 4 comes from channel `latency.Responder`, which is not a reply: it copies header 128 into a
/// fresh message with no other header, and the prober matches it by content type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyResponse {
    /// Header 128 as echoed.
    pub probe: Bytes,
    /// Header 1 ReplyFor; [`NOT_A_REPLY`] (-1) for a content type 4 answer without it.
    pub reply_for: i32,
}

impl LatencyResponse {
    /// Parse a latency answer of content type 2 or 4. A Result (2) must carry ReplyFor, its
    /// only link to the probe; a LatencyResponse (4) may omit it ([`NOT_A_REPLY`]).
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let expected = if f.content_type == ct::LATENCY_RESPONSE {
            ct::LATENCY_RESPONSE
        } else {
            ct::RESULT
        };
        let r = Reader::new(f, expected, "latency response")?;
        let reply_for = f.reply_for().map_err(|e| r.bad(e))?;
        let reply_for = match (expected, reply_for) {
            (ct::LATENCY_RESPONSE, None) => NOT_A_REPLY,
            (_, reply_for) => r.required(h::REPLY_FOR, reply_for)?,
        };
        Ok(Self {
            probe: r.bytes(h::REFLECTED).unwrap_or_default(),
            reply_for,
        })
    }

    /// Build as a LatencyResponse (content type 4) the way channel `latency.Responder` does:
    /// header 128 only, plus ReplyFor when `reply_for` is not [`NOT_A_REPLY`].
    pub fn to_latency_response_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bytes(h::REFLECTED, self.probe.clone());
        let mut f = frame(ct::LATENCY_RESPONSE, sequence, hd, Bytes::new());
        if self.reply_for != NOT_A_REPLY {
            f.set_reply_for(self.reply_for);
        }
        f
    }

    /// Build as a successful Result (the router's form).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut f = ChannelResult {
            success: true,
            message: Bytes::new(),
        }
        .to_frame(sequence);
        f.headers.put_bytes(h::REFLECTED, self.probe.clone());
        f.set_reply_for(self.reply_for);
        f
    }
}
