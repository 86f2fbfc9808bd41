//! The dialing side of a connection (§2.3, §3.3): Connect and the router's StateConnected,
//! Data in both directions, and StateClosed from either side.

use super::*;

/// Connect (60783): dial a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Header 1000: SDK-chosen conn id.
    pub conn_id: u32,
    /// Body: Dial service-session token.
    pub token: Bytes,
    /// Header 1003: dialer public key (only for encrypted services).
    pub public_key: Option<PublicKey>,
    /// Header 1006: terminator instance id to address.
    pub terminator_identity: Option<String>,
    /// Header 1008: caller id.
    pub caller_id: Option<String>,
    /// Header 1011: application data for the host.
    pub app_data: Option<Bytes>,
    /// Header 1027: stickiness token.
    pub stickiness_token: Option<Bytes>,
    /// Header 1025: connection marker.
    pub connection_marker: Option<String>,
    /// Header 1028: SDK flow control requested (written only when `Some`).
    pub use_xgress_to_sdk: Option<bool>,
    /// Header 1009 as received (never written).
    pub crypto_method: CryptoMethod,
}

impl Connect {
    /// Build the frame (1009 is never written).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_opt_key(&mut hd, &self.public_key);
        put_opt_string(&mut hd, h::TERMINATOR_IDENTITY, &self.terminator_identity);
        put_opt_string(&mut hd, h::CALLER_ID, &self.caller_id);
        put_opt_bytes(&mut hd, h::APP_DATA, &self.app_data);
        put_opt_bytes(&mut hd, h::STICKINESS_TOKEN, &self.stickiness_token);
        put_opt_string(&mut hd, h::CONNECTION_MARKER, &self.connection_marker);
        if let Some(x) = self.use_xgress_to_sdk {
            hd.put_bool(h::USE_XGRESS_TO_SDK, x);
        }
        frame(ct::CONNECT, sequence, hd, self.token.clone())
    }

    /// Parse a Connect. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::CONNECT, "Connect")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            public_key: r.public_key()?,
            terminator_identity: r.string(h::TERMINATOR_IDENTITY)?,
            caller_id: r.string(h::CALLER_ID)?,
            app_data: r.bytes(h::APP_DATA),
            stickiness_token: r.bytes(h::STICKINESS_TOKEN),
            connection_marker: r.string(h::CONNECTION_MARKER)?,
            use_xgress_to_sdk: r.bool(h::USE_XGRESS_TO_SDK)?,
            crypto_method: CryptoMethod::from_headers(&f.headers),
        })
    }
}

/// StateConnected (60784): success reply to Connect, Bind, or a legacy DialSuccess.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateConnected {
    /// Header 1000.
    pub conn_id: u32,
    /// Header 1026: circuit id.
    pub circuit_id: Option<String>,
    /// Header 1012 (bool): router-provided conn ids confirmed.
    pub router_provided_conn_id: bool,
    /// Header 1003: host public key.
    pub public_key: Option<PublicKey>,
    /// Header 1027: stickiness token.
    pub stickiness_token: Option<Bytes>,
    /// Header 1028: SDK flow control accepted.
    pub use_xgress_to_sdk: bool,
    /// Header 1029: xgress controller id.
    pub xgress_ctrl_id: Option<String>,
    /// Header 1030: xgress address.
    pub xgress_address: Option<String>,
}

impl StateConnected {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_opt_string(&mut hd, h::CIRCUIT_ID, &self.circuit_id);
        put_true(
            &mut hd,
            h::ROUTER_PROVIDED_CONN_ID,
            self.router_provided_conn_id,
        );
        put_opt_key(&mut hd, &self.public_key);
        put_opt_bytes(&mut hd, h::STICKINESS_TOKEN, &self.stickiness_token);
        put_true(&mut hd, h::USE_XGRESS_TO_SDK, self.use_xgress_to_sdk);
        put_opt_string(&mut hd, h::XGRESS_CTRL_ID, &self.xgress_ctrl_id);
        put_opt_string(&mut hd, h::XGRESS_ADDRESS, &self.xgress_address);
        frame(ct::STATE_CONNECTED, sequence, hd, Bytes::new())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::STATE_CONNECTED, "StateConnected")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            circuit_id: r.string(h::CIRCUIT_ID)?,
            router_provided_conn_id: r.flag(h::ROUTER_PROVIDED_CONN_ID)?,
            public_key: r.public_key()?,
            stickiness_token: r.bytes(h::STICKINESS_TOKEN),
            use_xgress_to_sdk: r.flag(h::USE_XGRESS_TO_SDK)?,
            xgress_ctrl_id: r.string(h::XGRESS_CTRL_ID)?,
            xgress_address: r.string(h::XGRESS_ADDRESS)?,
        })
    }
}

/// StateClosed (60785): failure reply, or close of a conn / bind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateClosed {
    /// Header 1000.
    pub conn_id: u32,
    /// Body: reason text (empty when an SDK closes).
    pub reason: Bytes,
    /// Headers 1014 / 1033.
    pub error: ErrorDetails,
    /// Header 1026: circuit id.
    pub circuit_id: Option<String>,
}

impl StateClosed {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        self.error.put(&mut hd);
        put_opt_string(&mut hd, h::CIRCUIT_ID, &self.circuit_id);
        frame(ct::STATE_CLOSED, sequence, hd, self.reason.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::STATE_CLOSED, "StateClosed")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            reason: f.body.clone(),
            error: r.error_details()?,
            circuit_id: r.string(h::CIRCUIT_ID)?,
        })
    }
}

/// Data (60786): payload of a virtual connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data {
    /// Header 1000.
    pub conn_id: u32,
    /// Header 1010 (written only when non-zero); see [`crate::wire::consts::flags`].
    pub flags: u32,
    /// Header 128: trace UUID.
    pub uuid: Option<Bytes>,
    /// Body.
    pub payload: Bytes,
}

impl Data {
    /// Whether the FIN (half-close) flag is set.
    pub fn is_fin(&self) -> bool {
        self.flags & crate::wire::consts::flags::FIN != 0
    }

    /// Whether the body is a multipart message.
    pub fn is_multipart(&self) -> bool {
        self.flags & crate::wire::consts::flags::MULTIPART_MSG != 0
    }

    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        if self.flags != 0 {
            hd.put_u32(h::FLAGS, self.flags);
        }
        put_opt_bytes(&mut hd, h::UUID, &self.uuid);
        frame(ct::DATA, sequence, hd, self.payload.clone())
    }

    /// Parse. Header 1000 is required; 1001 `Seq` is ignored.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DATA, "Data")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            flags: r.u32(h::FLAGS)?.unwrap_or(0),
            uuid: r.bytes(h::UUID),
            payload: f.body.clone(),
        })
    }
}
