//! lonc IDEA key derivation and line encryption, byte-compatible with 1.29.
//!
//! The scheme (research §7, spec §5): a 16-byte IDEA key packed Perl-style from the two host ids
//! and the `ekey` answer, ECB over 8-byte blocks padded with spaces, lower-case hex on the wire
//! as `enc:<len>:<hex>`. It is obfuscation, not security: the key is built from public host ids
//! plus a buildkey sent in clear, ECB leaks equal blocks, and nothing protects integrity.
//!
//! Decoding is strict where Perl was lenient (Perl maps any character to a nibble and NUL-pads a
//! short chunk): a line that is not well-formed hex covering `len` bytes is a [`CipherError`],
//! so garbage from a peer is reported instead of being relayed as garbage.

use idea::cipher::generic_array::GenericArray;
use idea::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use idea::Idea;
use std::fmt;

/// IDEA block size in bytes.
const BLOCK: usize = 8;

/// Why an `enc:` line could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipherError {
    /// The line does not start with `enc:`.
    NotEnc,
    /// A `:`-separated field is missing (`len` or `hex`).
    MissingField(&'static str),
    /// More than three `:`-separated fields.
    ExtraField,
    /// `len` is not a decimal number.
    BadLength(String),
    /// A character of the hex field is not a hex digit.
    BadHex { pos: usize, byte: u8 },
    /// The hex field is not a whole number of 16-digit blocks.
    HexNotWholeBlocks(usize),
    /// The hex field decodes to fewer bytes than `len` announces.
    TooShort { len: usize, have: usize },
    /// The decrypted answer holds a newline (one answer must stay one line).
    NewlineInside,
}

impl fmt::Display for CipherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CipherError::NotEnc => write!(f, "line does not start with \"enc:\""),
            CipherError::MissingField(which) => write!(f, "enc line has no {which} field"),
            CipherError::ExtraField => write!(f, "enc line has more than three fields"),
            CipherError::BadLength(s) => write!(f, "enc length {s:?} is not a decimal number"),
            CipherError::BadHex { pos, byte } => {
                write!(f, "bad hex digit {:?} at position {pos}", char::from(*byte))
            }
            CipherError::HexNotWholeBlocks(n) => {
                write!(f, "hex field has {n} digits, not a multiple of 16")
            }
            CipherError::NewlineInside => write!(f, "the decrypted text holds a newline"),
            CipherError::TooShort { len, have } => {
                write!(
                    f,
                    "enc length {len} but the hex field holds only {have} bytes"
                )
            }
        }
    }
}

impl std::error::Error for CipherError {}

/// Perl `pack "H"` nibble of one character: letters count from `A`=10 (so `G`=0, `_`=0xF...).
fn pack_h_nibble(c: u8) -> u8 {
    if c.is_ascii_alphabetic() {
        ((c & 0x0f) + 9) & 0x0f
    } else {
        c & 0x0f
    }
}

/// Perl `pack("H32", s)`: at most 32 characters, high nibble first, zero-padded to 16 bytes.
fn pack_h32(s: &[u8]) -> [u8; 16] {
    let mut key = [0u8; 16];
    for (i, &c) in s.iter().take(32).enumerate() {
        let nib = pack_h_nibble(c);
        key[i / 2] |= if i % 2 == 0 { nib << 4 } else { nib };
    }
    key
}

/// The id part of the key string: ASCII upper-case, then `G-P` and `Q-Z` to digits (Perl `tr`).
fn id_key_string(remote_id: &str, local_id: &str) -> Vec<u8> {
    remote_id
        .bytes()
        .chain(local_id.bytes())
        .map(|c| match c.to_ascii_uppercase() {
            u @ b'G'..=b'P' => b'0' + (u - b'G'),
            u @ b'Q'..=b'Z' => b'0' + (u - b'Q'),
            u => u,
        })
        .collect()
}

/// The 32-character key string `k.bk.k.bk.k.bk` cut to 32 (shorter if the inputs are short).
pub fn key_string(remote_id: &str, local_id: &str, buildkey: &[u8]) -> Vec<u8> {
    let k = id_key_string(remote_id, local_id);
    let mut s = Vec::with_capacity(3 * (k.len() + buildkey.len()));
    for _ in 0..3 {
        s.extend_from_slice(&k);
        s.extend_from_slice(buildkey);
    }
    s.truncate(32);
    s
}

/// The IDEA key lonc 1.29 derives. lonc passes `remote` = peer id, `local` = its own
/// `lonHostID` and the ekey answer WITH its `\n`; lond passes its own id first, the client's
/// second and the buildkey without `\n` (the two differ when ids + buildkey < 32 characters).
pub fn derive_key(remote_id: &str, local_id: &str, buildkey: &[u8]) -> [u8; 16] {
    pack_h32(&key_string(remote_id, local_id, buildkey))
}

/// Lower-case hex of bytes, as Perl's `unpack "H*"`.
fn to_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// One connection's IDEA cipher, with the `enc:` line framing of both directions.
#[derive(Clone)]
pub struct LineCipher {
    idea: Idea,
}

impl fmt::Debug for LineCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material, even in debug output.
        f.write_str("LineCipher { .. }")
    }
}

impl LineCipher {
    /// A cipher from a 16-byte key (see [`derive_key`]).
    pub fn new(key: [u8; 16]) -> LineCipher {
        LineCipher {
            idea: Idea::new(GenericArray::from_slice(&key)),
        }
    }

    /// `enc:<len>:<hex>`: `floor(len/8)+1` space-padded blocks, so there is always at least one
    /// pad byte and a multiple of 8 (including 0) gets a whole block of spaces.
    fn encrypt_line(&self, plain: &[u8]) -> Vec<u8> {
        let len = plain.len();
        let blocks = len / BLOCK + 1;
        let mut out = Vec::with_capacity(16 + blocks * 16);
        out.extend_from_slice(format!("enc:{len}:").as_bytes());
        for chunk_start in (0..blocks).map(|b| b * BLOCK) {
            let mut block = [b' '; BLOCK];
            let end = (chunk_start + BLOCK).min(len);
            if chunk_start < end {
                block[..end - chunk_start].copy_from_slice(&plain[chunk_start..end]);
            }
            let mut ga = GenericArray::from(block);
            self.idea.encrypt_block(&mut ga);
            to_hex(&ga, &mut out);
        }
        out
    }

    /// Decrypts `enc:<len>:<hex>`; a trailing `\n` is tolerated. Strict (see module header).
    fn decrypt_line(&self, line: &[u8]) -> Result<Vec<u8>, CipherError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let rest = line.strip_prefix(b"enc:").ok_or(CipherError::NotEnc)?;
        let mut fields = rest.split(|&c| c == b':');
        let len_field = fields.next().ok_or(CipherError::MissingField("length"))?;
        let hex = fields.next().ok_or(CipherError::MissingField("hex"))?;
        if fields.next().is_some() {
            return Err(CipherError::ExtraField);
        }
        // For the log: what the peer sent, cut where no decimal length could still be going
        // (a usize has at most 20 digits), so a hostile megabyte is not quoted whole.
        let mut len_text =
            String::from_utf8_lossy(&len_field[..len_field.len().min(24)]).into_owned();
        if len_field.len() > 24 {
            len_text.push('…');
        }
        if len_field.is_empty() || !len_field.iter().all(u8::is_ascii_digit) {
            return Err(CipherError::BadLength(len_text));
        }
        let len: usize = len_text
            .parse()
            .map_err(|_| CipherError::BadLength(len_text.clone()))?;
        if hex.is_empty() {
            return Err(CipherError::MissingField("hex"));
        }
        if let Some(pos) = hex.iter().position(|&c| hex_value(c).is_none()) {
            return Err(CipherError::BadHex {
                pos,
                byte: hex[pos],
            });
        }
        if hex.len() % (2 * BLOCK) != 0 {
            return Err(CipherError::HexNotWholeBlocks(hex.len()));
        }
        let have = hex.len() / 2;
        if have < len {
            return Err(CipherError::TooShort { len, have });
        }
        let mut out = Vec::with_capacity(have);
        for chunk in hex.chunks(2 * BLOCK) {
            let mut block = [0u8; BLOCK];
            for (i, pair) in chunk.chunks(2).enumerate() {
                // Both digits were checked above.
                let hi = hex_value(pair[0]).unwrap_or(0);
                let lo = hex_value(pair[1]).unwrap_or(0);
                block[i] = (hi << 4) | lo;
            }
            let mut ga = GenericArray::from(block);
            self.idea.decrypt_block(&mut ga);
            out.extend_from_slice(&ga);
        }
        out.truncate(len);
        Ok(out)
    }

    /// lonc: the line sent for `encrypt:<cmd>` (pass `cmd`, without `encrypt:` and newline).
    pub fn encrypt_request(&self, cmd: &[u8]) -> Vec<u8> {
        self.encrypt_line(cmd)
    }

    /// lonc: the plain answer for an `enc:<len>:<hex>` line from lond (no newline in or out).
    pub fn decrypt_reply(&self, line: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.decrypt_line(line)
    }

    /// lond side (stand-in): the command inside an `enc:` request line.
    pub fn decrypt_request(&self, line: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.decrypt_line(line)
    }

    /// lond side (stand-in): an `enc:` answer line for `reply` (no newline).
    pub fn encrypt_reply(&self, reply: &[u8]) -> Vec<u8> {
        self.encrypt_line(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        let mut v = Vec::new();
        to_hex(bytes, &mut v);
        String::from_utf8(v).unwrap()
    }

    /// Research §7.7: (remote, local, buildkey, key string, key hex).
    const KEYS: [(&str, &str, &str, &str, &str); 5] = [
        (
            "msul1",
            "msua3",
            "48213A0ADFEB09AABCDE7C9B055021",
            "62451624A348213A0ADFEB09AABCDE7C",
            "62451624a348213a0adfeb09aabcde7c",
        ),
        (
            "annarborl1",
            "basementl1",
            "9081A0ADFF0A9B3E2C7A1B2C4D5017",
            "A77A1B8151BA2E6E73519081A0ADFF0A",
            "a77a1b8151ba2e6e73519081a0adff0a",
        ),
        (
            "lc_test-1",
            "ab_x",
            "77777A0ADFF0AB0C12345A6B78",
            "5C_3E23-1AB_777777A0ADFF0AB0C123",
            "5cf3e23d1abf777777a0adff0ab0c123",
        ),
        (
            "l1",
            "a1",
            "5A0ADFEB09A1B3",
            "51A15A0ADFEB09A1B3\n51A15A0ADFEB0",
            "51a15a0adfeb09a1b3a51a15a0adfeb0",
        ),
        (
            "gerdl1",
            "msul3",
            "31337A0AE0A001EBFE0F00ABCDE12",
            "0E1D516245331337A0AE0A001EBFE0F0",
            "0e1d516245331337a0ae0a001ebfe0f0",
        ),
    ];

    /// Research §7.7: (request on the unix socket, line lonc sends, lond decrypts to).
    const REQUESTS: [(&str, &str, Option<&str>); 5] = [
        (
            "encrypt:currentauth:msu:smith",
            "enc:21:39ac65fd46aaa973cb0aac49b9741e3b3715372466ad19c8",
            Some("currentauth:msu:smith"),
        ),
        (
            "encrypt:auth:msu:jdoe:pw",
            "enc:16:536386ea3800cc29cea56f708659292df60b19a4c11c0c4e",
            Some("auth:msu:jdoe:pw"),
        ),
        ("encrypt:", "enc:0:01752cff5b6d7bf9", Some("")),
        (
            "encrypt:passwd:msu:jdoe:old%20pw:new%20pw",
            "enc:33:6f3c8a59e451621c0791f7431f6109854d4a3545c9ec62018e7c5993d14bd8da8ece4e05e708c2d2",
            None,
        ),
        (
            "encrypt:makeuser:msu:newbie:unix:pw",
            "enc:27:b9145f1a7cf69b418140ca1973e5810927616adb975a05a371634b13e5461077",
            Some("makeuser:msu:newbie:unix:pw"),
        ),
    ];

    /// Research §7.7 reverse direction: (line from lond, what the client gets without `\n`).
    const REPLIES: [(&str, &str); 5] = [
        ("enc:10:9672e913ea1c712603f7535375698f02", "reply_1:ok"),
        ("enc:10:72a7fb8f7cdebb52c6e430c74531a043", "reply_2:ok"),
        ("enc:0:01752cff5b6d7bf9", ""),
        ("enc:10:16d0e27b9f6e8a8336f097805893daa8", "reply_4:ok"),
        ("enc:10:632bd6680443524542e926c8471d6656", "reply_5:ok"),
    ];

    fn lonc_cipher(i: usize) -> LineCipher {
        let (r, l, bk, _, _) = KEYS[i];
        let bk_nl = format!("{bk}\n");
        LineCipher::new(derive_key(r, l, bk_nl.as_bytes()))
    }

    fn lond_cipher(i: usize) -> LineCipher {
        let (r, l, bk, _, _) = KEYS[i];
        // lond: its own id (lonc's remote) first, the client's second, buildkey without "\n".
        LineCipher::new(derive_key(r, l, bk.as_bytes()))
    }

    #[test]
    fn idea_known_answer_is_big_endian() {
        let key = pack_h32(b"00010002000300040005000600070008");
        let c = LineCipher::new(key);
        let mut block = GenericArray::from([0u8, 0, 0, 1, 0, 2, 0, 3]);
        c.idea.encrypt_block(&mut block);
        assert_eq!(hex(&block), "11fbed2b01986de5");
    }

    #[test]
    fn pack_h_follows_perl() {
        let mut v = Vec::new();
        to_hex(&pack_h32(b"GHIJKLMNOPQRSTUVWXYZ"), &mut v);
        assert_eq!(&v[..20], b"0123456789abcdef0123");
        assert_eq!(hex(&pack_h32(b"_-.\n :/")[..4]), "fdea0af0");
        assert_eq!(hex(&pack_h32(b"abc")), "abc00000000000000000000000000000");
        assert_eq!(hex(&pack_h32(b"")), "0".repeat(32));
        // Beyond 32 characters nothing counts.
        assert_eq!(
            pack_h32(&[b'1'; 40]),
            pack_h32(&[b'1'; 32]),
            "only 32 characters are packed"
        );
    }

    #[test]
    fn key_vectors_match_research() {
        for (i, (r, l, bk, ks, khex)) in KEYS.iter().enumerate() {
            let bk_nl = format!("{bk}\n");
            let s = key_string(r, l, bk_nl.as_bytes());
            assert_eq!(String::from_utf8(s).unwrap(), *ks, "key string {}", i + 1);
            assert_eq!(
                hex(&derive_key(r, l, bk_nl.as_bytes())),
                *khex,
                "key {}",
                i + 1
            );
        }
    }

    #[test]
    fn lond_key_differs_only_for_vector_4() {
        for (i, (r, l, bk, _, khex)) in KEYS.iter().enumerate() {
            let lond = hex(&derive_key(r, l, bk.as_bytes()));
            if i == 3 {
                assert_eq!(lond, "51a15a0adfeb09a1b351a15a0adfeb09");
            } else {
                assert_eq!(lond, *khex, "vector {}", i + 1);
            }
        }
    }

    #[test]
    fn request_vectors_byte_for_byte() {
        for (i, (req, wire, lond_sees)) in REQUESTS.iter().enumerate() {
            let cmd = req.strip_prefix("encrypt:").unwrap();
            let line = lonc_cipher(i).encrypt_request(cmd.as_bytes());
            assert_eq!(
                String::from_utf8(line.clone()).unwrap(),
                *wire,
                "vector {}",
                i + 1
            );
            let at_lond = lond_cipher(i).decrypt_request(&line).unwrap();
            match lond_sees {
                Some(text) => assert_eq!(at_lond, text.as_bytes(), "vector {}", i + 1),
                None => assert_ne!(at_lond, cmd.as_bytes(), "vector 4 must be garbage at lond"),
            }
            // lonc's own cipher always round-trips.
            assert_eq!(lonc_cipher(i).decrypt_reply(&line).unwrap(), cmd.as_bytes());
        }
    }

    #[test]
    fn reply_vectors_byte_for_byte() {
        for (i, (line, plain)) in REPLIES.iter().enumerate() {
            let got = lonc_cipher(i).decrypt_reply(line.as_bytes()).unwrap();
            assert_eq!(got, plain.as_bytes(), "reply vector {}", i + 1);
            // And the same framing produces these lines.
            assert_eq!(
                lonc_cipher(i).encrypt_reply(plain.as_bytes()),
                line.as_bytes(),
                "reply vector {}",
                i + 1
            );
        }
    }

    #[test]
    fn block_count_is_floor_len_over_8_plus_1() {
        let c = lonc_cipher(0);
        for len in 0..40 {
            let line = c.encrypt_request(&vec![b'x'; len]);
            let hex = line.rsplit(|&b| b == b':').next().unwrap();
            assert_eq!(hex.len(), 16 * (len / 8 + 1), "len {len}");
            assert!(hex.iter().all(|b| b"0123456789abcdef".contains(b)));
        }
    }

    #[test]
    fn upper_case_hex_and_trailing_newline_accepted() {
        let (line, plain) = REPLIES[0];
        let upper = line.to_uppercase().replacen("ENC", "enc", 1);
        assert_eq!(
            lonc_cipher(0).decrypt_reply(upper.as_bytes()).unwrap(),
            plain.as_bytes()
        );
        let nl = format!("{line}\n");
        assert_eq!(
            lonc_cipher(0).decrypt_reply(nl.as_bytes()).unwrap(),
            plain.as_bytes()
        );
    }

    #[test]
    fn garbage_and_truncated_lines_are_errors() {
        let c = lonc_cipher(0);
        let cases: [(&str, CipherError); 10] = [
            ("enc:5:zz", CipherError::BadHex { pos: 0, byte: b'z' }),
            ("hello", CipherError::NotEnc),
            ("enc", CipherError::NotEnc),
            ("enc:", CipherError::MissingField("hex")),
            ("enc:10", CipherError::MissingField("hex")),
            ("enc:x:00", CipherError::BadLength("x".into())),
            (
                "enc:1234567890123456789012345678901234567890:00",
                CipherError::BadLength("123456789012345678901234…".into()),
            ),
            (
                "enc:10:9672e913ea1c7126",
                CipherError::TooShort { len: 10, have: 8 },
            ),
            (
                "enc:10:9672e913ea1c712603f75353",
                CipherError::HexNotWholeBlocks(24),
            ),
            ("enc:1:9672e913ea1c7126:00", CipherError::ExtraField),
        ];
        for (line, want) in cases {
            let got = c.decrypt_reply(line.as_bytes()).unwrap_err();
            assert_eq!(got, want, "{line}");
            assert!(!got.to_string().is_empty());
        }
        let huge = "enc:99999999999999999999999999:0000000000000000";
        assert!(matches!(
            c.decrypt_reply(huge.as_bytes()),
            Err(CipherError::BadLength(_))
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Small xorshift generator: deterministic, no extra crates.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let c = lonc_cipher(1);
        let alphabet = b"enc:0123456789abcdefABCDEFxz\n\r \xff";
        for round in 0..5000 {
            let len = (next() % 64) as usize;
            let mut line: Vec<u8> = (0..len)
                .map(|_| {
                    if round % 2 == 0 {
                        alphabet[(next() % alphabet.len() as u64) as usize]
                    } else {
                        next() as u8
                    }
                })
                .collect();
            if round % 3 == 0 {
                let mut with_prefix = b"enc:".to_vec();
                with_prefix.append(&mut line);
                line = with_prefix;
            }
            let _ = c.decrypt_reply(&line);
            let enc = c.encrypt_request(&line);
            assert_eq!(c.decrypt_reply(&enc).unwrap(), line);
        }
    }
}
