//! JWT claims and CONNECT_ERROR payloads of PROTOCOL.md §2.

use serde::{Deserialize, Serialize};

/// What a connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read only.
    Viewer,
    /// May mutate.
    Operator,
    /// May mutate and delete.
    Admin,
    /// A signage player, only on `/device`.
    Device,
}

impl Role {
    /// Whether this role may send `mutate`.
    pub fn may_mutate(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
            Self::Device => "device",
        }
    }
}

/// JWT claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// User id, or device id on `/device`.
    pub sub: String,
    /// The only org this connection can read or write.
    pub org: String,
    /// Role.
    pub role: Role,
    /// Expiry, seconds since the epoch. JWT dates may be fractional
    /// (RFC 7519 NumericDate): one is rounded up, so a session never ends
    /// before its token does.
    #[serde(deserialize_with = "numeric_date::exp")]
    pub exp: u64,
    /// Issued at, seconds since the epoch, fractions allowed (written as an
    /// integer when whole); a token without it counts as issued at 0
    /// (PROTOCOL.md §2).
    #[serde(
        default,
        deserialize_with = "numeric_date::iat",
        serialize_with = "crate::bounds::ser_opt_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<f64>,
}

impl Claims {
    /// `iat` in whole milliseconds, rounded down (0 without one): for
    /// integer `removed_ms`, `iat * 1000 < removed_ms` (§2 `token_revoked`)
    /// holds exactly when `iat_ms() < removed_ms`.
    pub fn iat_ms(&self) -> u64 {
        // In 0..=2^53-1 seconds (checked when read); the cast saturates.
        // `100.123 * 1000.0` may come out a hair under 100123: a product
        // within a microsecond of a whole millisecond is that millisecond.
        self.iat.map_or(0, |s| {
            let ms = s * 1000.0;
            let whole = ms.round();
            (if (ms - whole).abs() < 1e-3 { whole } else { ms.floor() }) as u64
        })
    }
}

/// JWT NumericDates: any JSON number of seconds, 0..=2^53-1, fractions
/// allowed (RFC 7519 §2); what is not one makes the token invalid.
mod numeric_date {
    use serde::{Deserialize, Deserializer, de::Error};

    fn seconds<E: Error>(v: f64) -> Result<f64, E> {
        if !(0.0..=crate::bounds::MAX_SAFE_INT as f64).contains(&v) {
            return Err(E::custom("a JWT date must be a number of seconds in 0..=2^53-1"));
        }
        Ok(v)
    }

    pub(super) fn exp<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        // In range, so the cast is exact.
        Ok(seconds(f64::deserialize(d)?)?.ceil() as u64)
    }

    pub(super) fn iat<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<f64>::deserialize(d)?.map(seconds).transpose()
    }
}

/// Why a CONNECT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthErrorCode {
    /// No token in the auth payload.
    TokenMissing,
    /// Bad signature, bad claims, or unparseable.
    TokenInvalid,
    /// `exp` is in the past.
    TokenExpired,
    /// A `/device` token issued before its device was removed.
    TokenRevoked,
    /// Role not allowed on this namespace, or unknown namespace.
    WrongNamespace,
}

impl AuthErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenMissing => "token_missing",
            Self::TokenInvalid => "token_invalid",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::WrongNamespace => "wrong_namespace",
        }
    }
}

/// `data` of a CONNECT_ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectErrorData {
    /// Why.
    pub code: AuthErrorCode,
}

/// The CONNECT_ERROR payload: `{"message": "unauthorized", "data": {"code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectErrorPayload {
    /// Always `unauthorized`.
    pub message: String,
    /// The reason code.
    pub data: ConnectErrorData,
}

impl ConnectErrorPayload {
    /// The refusal for `code`.
    pub fn unauthorized(code: AuthErrorCode) -> Self {
        Self { message: "unauthorized".into(), data: ConnectErrorData { code } }
    }
}

/// The CONNECT auth payload: `{"token": "<JWT>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthPayload {
    /// The JWT.
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iat_in_milliseconds_is_the_decimal_value_rounded_down() {
        let at =
            |iat: Option<f64>| Claims { sub: "d".into(), org: "o".into(), role: Role::Device, exp: 0, iat }.iat_ms();
        assert_eq!(at(None), 0);
        // 1764230400.123 * 1000 is a hair under …123 in binary.
        assert_eq!(at(Some(1_764_230_400.123)), 1_764_230_400_123);
        assert_eq!(at(Some(1_764_230_400.5)), 1_764_230_400_500);
        assert_eq!(at(Some(1_764_230_400.123_9)), 1_764_230_400_123, "below a whole millisecond: down");
        assert_eq!(at(Some(5.0)), 5_000);
    }
}
