//! A panic (a bug) kept to the one call it happened in: a server's request fails alone.

/// Runs `f`; a panic in it becomes `Err` with the panic's message.
pub fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_its_message() {
        assert_eq!(contained(|| 7), Ok(7));
        assert_eq!(
            contained(|| -> u8 { panic!("static") }),
            Err("static".into())
        );
        let n = 3;
        assert_eq!(
            contained(|| -> u8 { panic!("formatted {n}") }),
            Err("formatted 3".into())
        );
        assert_eq!(
            contained(|| std::panic::panic_any(5u8)),
            Err("unknown panic".into())
        );
    }
}
