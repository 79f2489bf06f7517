//! A number in decimal without `core::fmt`, into a stack buffer: for the hot paths that print
//! numbers (ipsynd's status files, lonc's process title per request) and for the spawn's
//! child, which shares the daemon's memory and may call nothing that allocates or locks.

/// The digits of `n`, written from the right into `buf`; the returned slice borrows it.
#[inline]
pub fn digits(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::digits;

    #[test]
    fn digits_are_what_fmt_writes() {
        for n in [0, 7, 9, 10, 64, 1000, 4_294_967_295, u64::MAX] {
            let mut b = [0u8; 20];
            assert_eq!(digits(n, &mut b), n.to_string().as_bytes());
        }
    }
}
