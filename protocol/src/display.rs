//! Numbers as people read them in Japan, shared by every screen and message (the kiosk, the
//! counter, the hub's LINE messages): `¥12,345`, `3,347`.

/// Yen with thousands separators: `¥12,345`.
pub fn yen(amount: i64) -> String {
    format!("¥{}", group(amount))
}

/// An integer with thousands separators: `3,347`, `-1,000`.
pub fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(3347), "3,347");
        assert_eq!(group(-1_000), "-1,000");
        assert_eq!(group(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(yen(12_345), "¥12,345");
    }
}
