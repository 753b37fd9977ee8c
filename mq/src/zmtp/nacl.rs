//! NaCl's `crypto_box` and `crypto_secretbox`, the boxes CurveZMQ (RFC 26) is
//! written in, assembled from well-kept crates: X25519 from `x25519-dalek`,
//! HSalsa20 and XSalsa20-Poly1305 from RustCrypto's `salsa20` and
//! `crypto_secretbox`. Nothing cryptographic is computed here, only composed
//! the way NaCl composes it:
//!
//! ```text
//! crypto_box_beforenm(P, s) = HSalsa20(key = X25519(s, P), input = 0^16)
//! crypto_box_afternm(m, n, k) = crypto_secretbox(m, n, k)
//!                             = Poly1305 tag (16 bytes) || XSalsa20 ciphertext
//! ```
//!
//! which is what `crypto_box` 0.9 does too; we do not use that crate because
//! its secret key keeps an unzeroed copy of its bytes. The unit tests check
//! the composition against NaCl's published test vectors.
//!
//! With the `libsodium` feature the secretbox itself (XSalsa20-Poly1305,
//! where the traffic's time goes) is libsodium's, whose SIMD code is about
//! three times RustCrypto's portable one; keys are derived as above either
//! way, and the same vectors check both.
//!
//! Secrets are zeroed when dropped: [`SecretKey`] (dalek's `StaticSecret`),
//! [`SharedKey`] (the secretbox's key), the X25519 result and every buffer a
//! secret passes through.

#[cfg(not(feature = "libsodium"))]
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Kdf, Key, XSalsa20Poly1305};
#[cfg(not(feature = "libsodium"))]
use crypto_secretbox::{Nonce, Tag};
use zeroize::Zeroizing;

/// Size of a public or secret key.
pub(crate) const KEY_LEN: usize = 32;
/// Size of a box's authenticator, which leads the box.
pub(crate) const MAC_LEN: usize = 16;
/// Size of a full nonce.
pub(crate) const NONCE_LEN: usize = 24;

/// A Curve25519 public key.
pub(crate) type PublicKey = [u8; KEY_LEN];

/// A Curve25519 secret key; zeroed when dropped.
#[derive(Clone)]
pub(crate) struct SecretKey(x25519_dalek::StaticSecret);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub(crate) fn generate() -> SecretKey {
        let bytes = Zeroizing::new(random::<KEY_LEN>());
        SecretKey::from_bytes(&bytes)
    }

    /// The key with these bytes (any 32 bytes are a key: X25519 clamps them).
    pub(crate) fn from_bytes(bytes: &[u8; KEY_LEN]) -> SecretKey {
        SecretKey(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// The key's bytes, in a buffer zeroed when dropped.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key (`crypto_scalarmult_base`).
    pub(crate) fn public_key(&self) -> PublicKey {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    /// Shows the public half only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", z85::encode(self.public_key()))
    }
}

/// The key of a box between two key pairs, computed once
/// (`crypto_box_beforenm`), or a secretbox's key; zeroed when dropped.
pub(crate) struct SharedKey(Secretbox);

#[cfg(not(feature = "libsodium"))]
type Secretbox = XSalsa20Poly1305;
#[cfg(feature = "libsodium")]
type Secretbox = sodium::Secretbox;

/// A box failed to open: forged, altered, or sealed under other keys or
/// another nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpenFailed;

/// The peer's public key is one of the few points whose shared secret with
/// any key is all zeros (a low-order point): NaCl's libsodium refuses it,
/// and so do we, since such a box would be sealed under a key everybody
/// knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WeakKey;

impl SharedKey {
    /// The key of boxes between `ours` and `theirs` (`crypto_box_beforenm`).
    pub(crate) fn between(theirs: &PublicKey, ours: &SecretKey) -> Result<SharedKey, WeakKey> {
        let shared = ours.0.diffie_hellman(&x25519_dalek::PublicKey::from(*theirs));
        if !shared.was_contributory() {
            return Err(WeakKey);
        }
        // HSalsa20 with a zero input, as the secretbox crate gives it.
        let key = Zeroizing::new(<XSalsa20Poly1305 as Kdf>::kdf(
            Key::from_slice(shared.as_bytes()),
            &Default::default(),
        ));
        Ok(SharedKey::secret(key.as_ref()))
    }

    /// A secretbox key (`crypto_secretbox`'s), for boxes only its holder opens.
    pub(crate) fn secret(key: &[u8; KEY_LEN]) -> SharedKey {
        #[cfg(not(feature = "libsodium"))]
        return SharedKey(XSalsa20Poly1305::new(Key::from_slice(key)));
        #[cfg(feature = "libsodium")]
        return SharedKey(sodium::Secretbox::new(key));
    }

    /// A fresh random secretbox key.
    pub(crate) fn generate_secret() -> SharedKey {
        SharedKey::secret(&Zeroizing::new(random::<KEY_LEN>()))
    }

    /// Seals `buf` in place under `nonce` and returns the authenticator that
    /// goes before it on the wire.
    pub(crate) fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
        #[cfg(not(feature = "libsodium"))]
        return self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", buf)
            .expect("XSalsa20-Poly1305 seals any message shorter than 256 GiB")
            .into();
        #[cfg(feature = "libsodium")]
        return self.0.seal_in_place(nonce, buf);
    }

    /// Opens `buf` in place under `nonce` if `tag` authenticates it; on
    /// failure `buf` is left as it was.
    pub(crate) fn open_in_place(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8], tag: &[u8]) -> Result<(), OpenFailed> {
        let tag: &[u8; MAC_LEN] = tag.try_into().map_err(|_| OpenFailed)?;
        #[cfg(not(feature = "libsodium"))]
        return self
            .0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), b"", buf, Tag::from_slice(tag))
            .map_err(|_| OpenFailed);
        #[cfg(feature = "libsodium")]
        return self.0.open_in_place(nonce, buf, tag);
    }

    /// The box of `plaintext`: authenticator, then ciphertext.
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = vec![0; MAC_LEN + plaintext.len()];
        sealed[MAC_LEN..].copy_from_slice(plaintext);
        let tag = self.seal_in_place(nonce, &mut sealed[MAC_LEN..]);
        sealed[..MAC_LEN].copy_from_slice(&tag);
        sealed
    }

    /// What `sealed` (authenticator, then ciphertext) holds, in a buffer
    /// zeroed when dropped.
    pub(crate) fn open(&self, nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
        let (tag, ciphertext) = sealed.split_at_checked(MAC_LEN).ok_or(OpenFailed)?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        self.open_in_place(nonce, &mut plaintext, tag)?;
        Ok(plaintext)
    }
}

/// `N` bytes from the operating system's random source.
///
/// # Panics
///
/// If the system has none to give (`getrandom` fails only where no source
/// exists at all): keys and nonces must never be guessable, and there is no
/// safe fallback.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    getrandom::getrandom(&mut bytes).expect("dhaga-mq: the operating system gave no random bytes for CURVE");
    bytes
}

/// A 24-byte nonce: a 16- or 8-byte prefix, then the rest.
pub(crate) fn nonce(prefix: &[u8], rest: &[u8]) -> [u8; NONCE_LEN] {
    assert_eq!(prefix.len() + rest.len(), NONCE_LEN, "a nonce is 24 bytes");
    let mut nonce = [0; NONCE_LEN];
    nonce[..prefix.len()].copy_from_slice(prefix);
    nonce[prefix.len()..].copy_from_slice(rest);
    nonce
}

/// XSalsa20-Poly1305 by libsodium (`crypto_secretbox_detached` and its
/// opening), in place.
#[cfg(feature = "libsodium")]
#[allow(unsafe_code, reason = "libsodium's C functions; each call says why it is sound")]
mod sodium {
    use std::sync::OnceLock;

    use zeroize::Zeroizing;

    use super::{KEY_LEN, MAC_LEN, NONCE_LEN, OpenFailed};

    /// A secretbox key, zeroed when dropped.
    pub(crate) struct Secretbox(Zeroizing<[u8; KEY_LEN]>);

    /// Initialises libsodium once (its CPU feature detection, which picks
    /// the SIMD code), before any use.
    fn init() {
        static INIT: OnceLock<()> = OnceLock::new();
        INIT.get_or_init(|| {
            // SAFETY: `sodium_init` takes no arguments and may be called from
            // any thread, any number of times (libsodium's documentation).
            let status = unsafe { libsodium_sys::sodium_init() };
            assert!(status >= 0, "dhaga-mq: libsodium failed to initialise ({status})");
        });
    }

    impl Secretbox {
        pub(crate) fn new(key: &[u8; KEY_LEN]) -> Secretbox {
            init();
            Secretbox(Zeroizing::new(*key))
        }

        pub(crate) fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
            let mut tag = [0; MAC_LEN];
            // SAFETY: `buf` is valid for reads and writes of `buf.len()` bytes,
            // `tag` for 16 writes, `nonce` for 24 reads and the key for 32, as
            // crypto_secretbox_detached wants; the ciphertext and the message may
            // be the same buffer ("c and m can overlap, making in-place
            // encryption possible"). libsodium initialised in `new`.
            let status = unsafe {
                libsodium_sys::crypto_secretbox_detached(
                    buf.as_mut_ptr(),
                    tag.as_mut_ptr(),
                    buf.as_ptr(),
                    buf.len() as u64,
                    nonce.as_ptr(),
                    self.0.as_ptr(),
                )
            };
            assert_eq!(
                status, 0,
                "crypto_secretbox_detached seals any message shorter than 256 GiB"
            );
            tag
        }

        pub(crate) fn open_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
            tag: &[u8; MAC_LEN],
        ) -> Result<(), OpenFailed> {
            // SAFETY: as in `seal_in_place`, with `tag` valid for 16 reads;
            // crypto_secretbox_open_detached also works in place, and writes
            // nothing unless the tag verifies.
            let status = unsafe {
                libsodium_sys::crypto_secretbox_open_detached(
                    buf.as_mut_ptr(),
                    buf.as_ptr(),
                    tag.as_ptr(),
                    buf.len() as u64,
                    nonce.as_ptr(),
                    self.0.as_ptr(),
                )
            };
            if status == 0 { Ok(()) } else { Err(OpenFailed) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(s: &str) -> [u8; 32] {
        hex(s).try_into().unwrap()
    }

    // NaCl's test vectors (Bernstein, "Cryptography in NaCl", §§ 9-10; NaCl's
    // tests/box.c, box2.c, box7.c): Alice's and Bob's keys, the nonce, and the
    // 131-byte message with its box.
    const ALICE_SECRET: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const ALICE_PUBLIC: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    const BOB_SECRET: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    const BOB_PUBLIC: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    const SHARED: &str = "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389";
    const NONCE: &str = "69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37";
    const MESSAGE: &str = "
        be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc
        e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31
        0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde
        048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864
        5e0705";
    const BOX: &str = "
        f3ffc7703f9400e52a7dfb4b3d3305d9
        8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a
        c0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738
        b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da
        99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74
        e355a5";

    #[test]
    fn public_keys_and_the_shared_key_match_nacl() {
        let alice = SecretKey::from_bytes(&key(ALICE_SECRET));
        let bob = SecretKey::from_bytes(&key(BOB_SECRET));
        assert_eq!(alice.public_key(), key(ALICE_PUBLIC));
        assert_eq!(bob.public_key(), key(BOB_PUBLIC));
        // crypto_box_beforenm: both directions give NaCl's first key, so a box
        // sealed by one opens with the other.
        let nonce: [u8; 24] = hex(NONCE).try_into().unwrap();
        let sealed = SharedKey::between(&key(BOB_PUBLIC), &alice)
            .unwrap()
            .seal(&nonce, &hex(MESSAGE));
        assert_eq!(sealed, hex(BOX), "Alice's box for Bob");
        let opened = SharedKey::between(&key(ALICE_PUBLIC), &bob)
            .unwrap()
            .open(&nonce, &sealed)
            .unwrap();
        assert_eq!(*opened, hex(MESSAGE));
        // The secretbox under the shared key itself gives the same box.
        let sealed = SharedKey::secret(&key(SHARED)).seal(&nonce, &hex(MESSAGE));
        assert_eq!(sealed, hex(BOX), "crypto_secretbox under crypto_box_beforenm's key");
    }

    #[test]
    fn altered_boxes_do_not_open() {
        let nonce: [u8; 24] = hex(NONCE).try_into().unwrap();
        let bob = SecretKey::from_bytes(&key(BOB_SECRET));
        let key = SharedKey::between(&key(ALICE_PUBLIC), &bob).unwrap();
        let sealed = hex(BOX);
        for i in [0, 15, 16, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(key.open(&nonce, &altered), Err(OpenFailed), "byte {i} flipped");
        }
        let mut other_nonce = nonce;
        other_nonce[23] ^= 1;
        assert_eq!(key.open(&other_nonce, &sealed), Err(OpenFailed));
        assert_eq!(key.open(&nonce, &sealed[..15]), Err(OpenFailed), "shorter than a tag");
        // An empty message seals to its tag alone, and opens.
        let empty = key.seal(&nonce, b"");
        assert_eq!(empty.len(), MAC_LEN);
        assert!(key.open(&nonce, &empty).unwrap().is_empty());
    }

    #[test]
    fn low_order_public_keys_are_refused() {
        let ours = SecretKey::generate();
        // Zero, and the point of order 8 that X25519 maps to zero too.
        for theirs in [
            [0u8; 32],
            key("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ] {
            assert!(matches!(SharedKey::between(&theirs, &ours), Err(WeakKey)));
        }
    }

    #[test]
    fn generated_keys_differ_and_match_their_public_half() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        assert_ne!(*a.to_bytes(), *b.to_bytes());
        assert_eq!(SecretKey::from_bytes(&a.to_bytes()).public_key(), a.public_key());
        assert!(
            !format!("{a:?}").contains(&z85::encode(*a.to_bytes())),
            "Debug shows no secret"
        );
    }
}
