//! Refreshing a channel's OIDC access token (§6.3): UpdateToken and the router's answers.

use super::*;

/// UpdateToken (60803): SDK sends a fresh API-session JWT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateToken {
    /// Body: the new token.
    pub token: Bytes,
}

impl UpdateToken {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        frame(
            ct::UPDATE_TOKEN,
            sequence,
            Headers::new(),
            self.token.clone(),
        )
    }

    /// Parse.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        Reader::new(f, ct::UPDATE_TOKEN, "UpdateToken")?;
        Ok(Self {
            token: f.body.clone(),
        })
    }
}

/// UpdateTokenSuccess (60801): router accepted the token (a reply).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateTokenSuccess;

impl UpdateTokenSuccess {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        frame(
            ct::UPDATE_TOKEN_SUCCESS,
            sequence,
            Headers::new(),
            Bytes::new(),
        )
    }

    /// Parse.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        Reader::new(f, ct::UPDATE_TOKEN_SUCCESS, "UpdateTokenSuccess")?;
        Ok(Self)
    }
}

/// UpdateTokenFailure (60802): router rejected the token and will close the channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateTokenFailure {
    /// Body: reason.
    pub reason: Bytes,
    /// Headers 1014 / 1033.
    pub error: ErrorDetails,
}

impl UpdateTokenFailure {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        self.error.put(&mut hd);
        frame(ct::UPDATE_TOKEN_FAILURE, sequence, hd, self.reason.clone())
    }

    /// Parse.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::UPDATE_TOKEN_FAILURE, "UpdateTokenFailure")?;
        Ok(Self {
            reason: f.body.clone(),
            error: r.error_details()?,
        })
    }
}
