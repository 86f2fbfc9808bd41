//! The hosting side (§2.3, §3.2, §5): Bind, Unbind, UpdateBind, HealthEvent and the
//! router's BindSuccess; Dial and the host's DialSuccess / DialFailed; ConnInspect.

use super::*;

/// Dial (60787): router to host, a new inbound connection on a bind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dial {
    /// Header 1000: the bind conn id.
    pub bind_conn_id: u32,
    /// Header 1012 (`u32`): router-provided id of the new conn.
    pub new_conn_id: Option<u32>,
    /// Body: the Bind session token the host used.
    pub token: Bytes,
    /// Header 1008: caller id (routers always send it, possibly empty).
    pub caller_id: Option<String>,
    /// Header 1026: circuit id.
    pub circuit_id: Option<String>,
    /// Header 1003: dialer public key.
    pub public_key: Option<PublicKey>,
    /// Header 1025: connection marker.
    pub connection_marker: Option<String>,
    /// Header 1011: application data.
    pub app_data: Option<Bytes>,
    /// Header 1034: dialer identity id.
    pub dialer_identity_id: Option<String>,
    /// Header 1035: dialer identity name.
    pub dialer_identity_name: Option<String>,
    /// Header 1009 as received (never written).
    pub crypto_method: CryptoMethod,
}

impl Dial {
    /// Build the frame (1009 is never written).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.bind_conn_id);
        if let Some(id) = self.new_conn_id {
            hd.put_u32(h::ROUTER_PROVIDED_CONN_ID, id);
        }
        put_opt_string(&mut hd, h::CALLER_ID, &self.caller_id);
        put_opt_string(&mut hd, h::CIRCUIT_ID, &self.circuit_id);
        put_opt_key(&mut hd, &self.public_key);
        put_opt_string(&mut hd, h::CONNECTION_MARKER, &self.connection_marker);
        put_opt_bytes(&mut hd, h::APP_DATA, &self.app_data);
        put_opt_string(&mut hd, h::DIALER_IDENTITY_ID, &self.dialer_identity_id);
        put_opt_string(&mut hd, h::DIALER_IDENTITY_NAME, &self.dialer_identity_name);
        frame(ct::DIAL, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required; 1012, when present, must be a 4-byte `u32`.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DIAL, "Dial")?;
        Ok(Self {
            bind_conn_id: r.conn_id()?,
            new_conn_id: r.u32(h::ROUTER_PROVIDED_CONN_ID)?,
            token: f.body.clone(),
            caller_id: r.string(h::CALLER_ID)?,
            circuit_id: r.string(h::CIRCUIT_ID)?,
            public_key: r.public_key()?,
            connection_marker: r.string(h::CONNECTION_MARKER)?,
            app_data: r.bytes(h::APP_DATA),
            dialer_identity_id: r.string(h::DIALER_IDENTITY_ID)?,
            dialer_identity_name: r.string(h::DIALER_IDENTITY_NAME)?,
            crypto_method: CryptoMethod::from_headers(&f.headers),
        })
    }
}

/// DialSuccess (60788): host accepts a Dial (a reply to it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialSuccess {
    /// Header 1000: the bind conn id.
    pub bind_conn_id: u32,
    /// Body (exactly 4 bytes `u32` LE): the new conn id.
    pub new_conn_id: u32,
    /// Header 1003: host public key for this connection.
    pub public_key: Option<PublicKey>,
}

impl DialSuccess {
    /// Build the frame; the caller adds ReplyFor = the Dial's sequence.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.bind_conn_id);
        put_opt_key(&mut hd, &self.public_key);
        frame(
            ct::DIAL_SUCCESS,
            sequence,
            hd,
            Bytes::copy_from_slice(&self.new_conn_id.to_le_bytes()),
        )
    }

    /// Parse. Header 1000 is required and the body must be exactly 4 bytes.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DIAL_SUCCESS, "DialSuccess")?;
        let body = <[u8; 4]>::try_from(f.body.as_ref())
            .map_err(|_| EdgeError::BadDialSuccessBody { len: f.body.len() })?;
        Ok(Self {
            bind_conn_id: r.conn_id()?,
            new_conn_id: u32::from_le_bytes(body),
            public_key: r.public_key()?,
        })
    }
}

/// DialFailed (60789): host rejects a Dial (a reply to it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialFailed {
    /// Header 1000: the bind conn id (C sends 0 after a crypto failure).
    pub bind_conn_id: u32,
    /// Body: reason.
    pub reason: Bytes,
}

impl DialFailed {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.bind_conn_id);
        frame(ct::DIAL_FAILED, sequence, hd, self.reason.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DIAL_FAILED, "DialFailed")?;
        Ok(Self {
            bind_conn_id: r.conn_id()?,
            reason: f.body.clone(),
        })
    }
}

/// Bind (60790): host a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    /// Header 1000: SDK-chosen bind conn id.
    pub conn_id: u32,
    /// Body: Bind service-session token.
    pub token: Bytes,
    /// Header 1004: cost.
    pub cost: Option<u16>,
    /// Header 1005: precedence.
    pub precedence: Option<Precedence>,
    /// Header 1006: terminator instance id.
    pub terminator_identity: Option<String>,
    /// Header 1007: terminator identity secret.
    pub terminator_identity_secret: Option<Bytes>,
    /// Header 1021: listener id.
    pub listener_id: Option<String>,
    /// Header 1012 (bool): ask the router to provide conn ids in Dial.
    pub router_provided_conn_id: bool,
    /// Header 1023: the host answers ConnInspectRequest.
    pub supports_inspect: bool,
    /// Header 1024: the host wants BindSuccess.
    pub supports_bind_success: bool,
    /// Header 1003: host public key (only for encrypted services).
    pub public_key: Option<PublicKey>,
    /// Header 1028: SDK flow control requested (written only when `Some`).
    pub use_xgress_to_sdk: Option<bool>,
    /// Header 1009 as received (never written).
    pub crypto_method: CryptoMethod,
}

impl Bind {
    /// Build the frame (1009 is never written).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_true(
            &mut hd,
            h::ROUTER_PROVIDED_CONN_ID,
            self.router_provided_conn_id,
        );
        put_true(&mut hd, h::SUPPORTS_INSPECT, self.supports_inspect);
        put_true(
            &mut hd,
            h::SUPPORTS_BIND_SUCCESS,
            self.supports_bind_success,
        );
        put_opt_key(&mut hd, &self.public_key);
        if let Some(c) = self.cost {
            hd.put_u16(h::COST, c);
        }
        if let Some(p) = self.precedence {
            hd.put_byte(h::PRECEDENCE, p.as_u8());
        }
        put_opt_string(&mut hd, h::TERMINATOR_IDENTITY, &self.terminator_identity);
        put_opt_bytes(
            &mut hd,
            h::TERMINATOR_IDENTITY_SECRET,
            &self.terminator_identity_secret,
        );
        put_opt_string(&mut hd, h::LISTENER_ID, &self.listener_id);
        if let Some(x) = self.use_xgress_to_sdk {
            hd.put_bool(h::USE_XGRESS_TO_SDK, x);
        }
        frame(ct::BIND, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::BIND, "Bind")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            cost: r.u16(h::COST)?,
            precedence: r.precedence()?,
            terminator_identity: r.string(h::TERMINATOR_IDENTITY)?,
            terminator_identity_secret: r.bytes(h::TERMINATOR_IDENTITY_SECRET),
            listener_id: r.string(h::LISTENER_ID)?,
            router_provided_conn_id: r.flag(h::ROUTER_PROVIDED_CONN_ID)?,
            supports_inspect: r.flag(h::SUPPORTS_INSPECT)?,
            supports_bind_success: r.flag(h::SUPPORTS_BIND_SUCCESS)?,
            public_key: r.public_key()?,
            use_xgress_to_sdk: r.bool(h::USE_XGRESS_TO_SDK)?,
            crypto_method: CryptoMethod::from_headers(&f.headers),
        })
    }
}

/// Unbind (60791): stop hosting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unbind {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
    /// Body: Bind session token.
    pub token: Bytes,
    /// Header 1021: listener id.
    pub listener_id: Option<String>,
}

impl Unbind {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_opt_string(&mut hd, h::LISTENER_ID, &self.listener_id);
        frame(ct::UNBIND, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::UNBIND, "Unbind")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            listener_id: r.string(h::LISTENER_ID)?,
        })
    }
}

/// UpdateBind (60794): change cost / precedence of a terminator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateBind {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
    /// Body: Bind session token.
    pub token: Bytes,
    /// Header 1004.
    pub cost: Option<u16>,
    /// Header 1005.
    pub precedence: Option<Precedence>,
}

impl UpdateBind {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        if let Some(c) = self.cost {
            hd.put_u16(h::COST, c);
        }
        if let Some(p) = self.precedence {
            hd.put_byte(h::PRECEDENCE, p.as_u8());
        }
        frame(ct::UPDATE_BIND, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::UPDATE_BIND, "UpdateBind")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            cost: r.u16(h::COST)?,
            precedence: r.precedence()?,
        })
    }
}

/// HealthEvent (60795): terminator health pass / fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthEvent {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
    /// Body: Bind session token.
    pub token: Bytes,
    /// Header 1013.
    pub healthy: bool,
}

impl HealthEvent {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        hd.put_bool(h::HEALTH_STATUS, self.healthy);
        frame(ct::HEALTH_EVENT, sequence, hd, self.token.clone())
    }

    /// Parse. Headers 1000 and 1013 are required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::HEALTH_EVENT, "HealthEvent")?;
        let healthy = r.bool(h::HEALTH_STATUS)?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            healthy: r.required(h::HEALTH_STATUS, healthy)?,
        })
    }
}

/// BindSuccess (60800): router, the terminator exists at the controller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindSuccess {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
}

impl BindSuccess {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        frame(ct::BIND_SUCCESS, sequence, hd, Bytes::new())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::BIND_SUCCESS, "BindSuccess")?;
        Ok(Self {
            conn_id: r.conn_id()?,
        })
    }
}

/// ConnInspectRequest (60798): router asks what a conn id is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnInspectRequest {
    /// Header 1000.
    pub conn_id: u32,
}

impl ConnInspectRequest {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        frame(ct::CONN_INSPECT_REQUEST, sequence, hd, Bytes::new())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::CONN_INSPECT_REQUEST, "ConnInspectRequest")?;
        Ok(Self {
            conn_id: r.conn_id()?,
        })
    }
}

/// ConnInspectResponse (60799): the SDK's answer (a reply to the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInspectResponse {
    /// Header 1000.
    pub conn_id: u32,
    /// Header 1022: must be [`ConnType::Bind`] for a live bind or the router drops it.
    pub conn_type: ConnType,
    /// Body: free text / JSON.
    pub details: Bytes,
}

impl ConnInspectResponse {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        hd.put_byte(h::CONN_TYPE, self.conn_type.as_u8());
        frame(
            ct::CONN_INSPECT_RESPONSE,
            sequence,
            hd,
            self.details.clone(),
        )
    }

    /// Parse. Headers 1000 and 1022 are required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::CONN_INSPECT_RESPONSE, "ConnInspectResponse")?;
        let raw = f.headers.get_byte(h::CONN_TYPE).map_err(|e| r.bad(e))?;
        let raw = r.required(h::CONN_TYPE, raw)?;
        let conn_type = ConnType::from_u8(raw).ok_or(EdgeError::UnknownEnumValue {
            message: r.message,
            id: h::CONN_TYPE,
            value: raw,
        })?;
        Ok(Self {
            conn_id: r.conn_id()?,
            conn_type,
            details: f.body.clone(),
        })
    }
}
