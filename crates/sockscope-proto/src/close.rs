//! Close frame payloads (RFC 6455 §5.5.1): an optional 2-byte code and a UTF-8 reason.

/// A parsed close payload. An empty payload has neither code nor reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloseInfo {
    pub code: Option<u16>,
    pub reason: String,
}

/// Why a close payload is not legal. The frame is still recorded as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseParseError {
    #[error("close payload of 1 byte (a code needs 2)")]
    OneByte,
    #[error("close reason is not valid UTF-8")]
    InvalidUtf8,
}

/// Parses a close payload. Codes are returned as sent, even when RFC 6455 forbids them
/// on the wire (1005, 1006, 1015, < 1000): an inspector shows what was sent.
pub fn parse_close_payload(payload: &[u8]) -> Result<CloseInfo, CloseParseError> {
    match payload.len() {
        0 => Ok(CloseInfo::default()),
        1 => Err(CloseParseError::OneByte),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| CloseParseError::InvalidUtf8)?
                .to_owned();
            Ok(CloseInfo {
                code: Some(code),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_code_and_reason() {
        let mut p = 4001u16.to_be_bytes().to_vec();
        p.extend_from_slice("bye ✓".as_bytes());
        assert_eq!(
            parse_close_payload(&p),
            Ok(CloseInfo {
                code: Some(4001),
                reason: "bye ✓".into()
            })
        );
    }

    #[test]
    fn empty_and_illegal_payloads() {
        assert_eq!(parse_close_payload(&[]), Ok(CloseInfo::default()));
        assert_eq!(parse_close_payload(&[3]), Err(CloseParseError::OneByte));
        assert_eq!(
            parse_close_payload(&[3, 232, 0xff]),
            Err(CloseParseError::InvalidUtf8)
        );
    }
}
