//! Address resolution for std's [`ToSocketAddrs`], keeping host-name
//! lookups off the worker where that can be done soundly.
//!
//! Every socket function takes `A: std::net::ToSocketAddrs`, so code written
//! against std's trait — including generic code — ports unchanged. Calling
//! `addr.to_socket_addrs()` in place would be simplest, but for a host name
//! std calls `getaddrinfo`, which blocks the OS thread: the worker and every
//! micro-thread on it would wait for DNS. Moving the call to the blocking
//! pool is not possible for an arbitrary `A` either: it may be borrowed and
//! neither `Send` nor `Sync`, so handing `&A` to another thread would be
//! unsound.
//!
//! So addresses are sorted by type:
//!
//! - The textual forms std implements the trait for (`&str`, `String`,
//!   `(&str, u16)`, `(String, u16)`, and references to them up to three
//!   deep, such as generic code passing a borrowed address on makes) are
//!   recognised by their type ([`typeid::of`], a `TypeId` for types that
//!   need not be `'static`). Their text is copied; a numeric address is
//!   parsed in place, and a host name is looked up on the blocking pool
//!   ([`dhaga_runtime::spawn_blocking`]), which parks only the micro-thread.
//! - Every other type runs its own `to_socket_addrs` in place. For std's
//!   numeric types (`SocketAddr`, `(IpAddr, u16)`, `&[SocketAddr]`, ...)
//!   that never blocks. A type of another crate or of the program that
//!   looks a name up, or a textual form under more than three references,
//!   stalls the worker for that lookup; [`lookup_host`] on its text avoids
//!   that.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::vec;

/// An address given as text: what std's `ToSocketAddrs` parses and, for a
/// host name, looks up.
#[derive(Debug, PartialEq)]
enum Text<'a> {
    /// `"host:port"` (a `str` or `String`).
    HostPort(&'a str),
    /// `(host, port)`.
    Host(&'a str, u16),
}

/// `addr`'s text, if `A` is one of the textual types std implements
/// `ToSocketAddrs` for, or a reference to one up to three deep; `None` for
/// every other type.
///
/// Three deep, because generic code makes such references without anyone
/// writing them: `fn f<A: ToSocketAddrs>(a: &A)` called with `A = &String`
/// and passing `a` on to `lookup_host` hands it a `&&String`, which `text`
/// then sees as `A`.
#[allow(
    unsafe_code,
    reason = "a type-checked cast of a reference that is not 'static, which no safe API offers"
)]
fn text<'x, A>(addr: &'x A) -> Option<Text<'x>> {
    /// For each `for<'l> base => conversion`: the base form (written with
    /// the one lifetime `'l` for every borrow in it) and the references to
    /// it, up to three deep, each tried by `form!`.
    macro_rules! forms {
        ($(for<$l:lifetime> $base:ty => $text:expr),* $(,)?) => {$({
            type Base<$l> = $base;
            let text: fn(&'x Base<'x>) -> Text<'x> = $text;
            form!(text, Base);
            form!(text, Base &);
            form!(text, Base & &);
            form!(text, Base & & &);
        })*};
    }
    /// If `A` is `$base` under the references `$ref`s, converts `addr` with
    /// `$text` (a reference to a reference is dereferenced by coercion).
    macro_rules! form {
        ($text:ident, $base:ident $($ref:tt)*) => {{
            // The covariance the cast below relies on, checked: were any
            // lifetime of the form in an invariant position (`&mut`, `Cell`)
            // or a contravariant one (a `fn` argument), a value of the form
            // with long borrows would not be one with short borrows, and
            // this would not compile. One lifetime for every borrow is
            // enough: a single position that is not covariant fails it.
            fn _covariant<'long: 'short, 'short>(
                form: $($ref 'long)* $base<'long>,
            ) -> $($ref 'short)* $base<'short> {
                form
            }
            if typeid::of::<A>() == typeid::of::<$($ref 'x)* $base<'x>>() {
                // SAFETY: `typeid::of::<T>()` is, by its contract, the
                // `TypeId` of `T` with every lifetime replaced by 'static
                // (none of these forms has a higher-ranked one), and
                // distinct 'static types have distinct `TypeId`s. Equal ids
                // therefore mean that `A` is this form up to the choice of
                // its lifetimes, which may all differ. Each of them outlives
                // 'x, since `&'x A` is a valid reference (`A: 'x`). And
                // every form is built only of covariant positions: shared
                // references, `str`, `String`, tuples and `u16`, with no
                // `&mut`, `Cell`, `fn` or `dyn` type, as `_covariant`
                // above checks. So a value of `A` is a value of the form
                // with every lifetime shortened to 'x, and `&'x A` may be
                // read as a reference to that: a subtyping coercion the
                // compiler cannot see through a type parameter, made by
                // hand. Same type, same layout, only shorter borrows.
                let addr = unsafe { &*std::ptr::from_ref(addr).cast::<$($ref 'x)* $base<'x>>() };
                return Some($text(addr));
            }
        }};
    }
    forms! {
        for<'l> &'l str => |s| Text::HostPort(s),
        for<'l> String => |s| Text::HostPort(s),
        for<'l> (&'l str, u16) => |&(host, port)| Text::Host(host, port),
        for<'l> (String, u16) => |(host, port)| Text::Host(host, *port),
    }
    None
}

/// Resolves `addr` as std's `to_socket_addrs` does, but looks host names in
/// text up on the blocking pool (see the module docs).
fn resolve<A: ToSocketAddrs>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    match text(addr) {
        Some(Text::HostPort(text)) => {
            if let Ok(addr) = text.parse::<SocketAddr>() {
                return Ok(vec![addr]);
            }
            let text = text.to_owned();
            dhaga_runtime::spawn_blocking(move || text.to_socket_addrs().map(Iterator::collect))
        }
        Some(Text::Host(host, port)) => {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![SocketAddr::new(ip, port)]);
            }
            let host = host.to_owned();
            dhaga_runtime::spawn_blocking(move || (host.as_str(), port).to_socket_addrs().map(Iterator::collect))
        }
        None => addr.to_socket_addrs().map(Iterator::collect),
    }
}

/// Resolves `host` to socket addresses, like [`std::net::ToSocketAddrs`]
/// and `tokio::net::lookup_host`, without stalling the worker.
///
/// `host` is anything std's `ToSocketAddrs` takes: `"host:port"` (a `&str`
/// or `String`), `(host, port)`, a `SocketAddr`, `(IpAddr, u16)`, ... A
/// numeric address is parsed in place. A host name given as text is looked
/// up on the blocking pool ([`dhaga_runtime::spawn_blocking`]): a
/// micro-thread parks until the answer comes, and its worker runs others
/// meanwhile. Outside a micro-thread the lookup blocks the calling thread,
/// as std's does. Only a type of another crate that implements the trait
/// itself runs its own lookup in place (see [Addresses](crate#addresses)).
///
/// The addresses come in the order the resolver gives them; a connect
/// tries them in that order.
///
/// # Errors
///
/// What std's `to_socket_addrs` reports: `InvalidInput` for text that is
/// not an address (no port, say), and the resolver's error for a name it
/// cannot resolve.
///
/// # Examples
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
///
/// let addrs: Vec<SocketAddr> = dhaga_runtime::run(|| {
///     dhaga_net::lookup_host("localhost:8080").map(Iterator::collect)
/// })?;
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
///
/// // Numeric addresses are parsed where they are; nothing is looked up.
/// let mut addrs = dhaga_net::lookup_host("127.0.0.1:80")?;
/// assert_eq!(addrs.next(), Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 80))));
/// # std::io::Result::Ok(())
/// ```
// The iterator is `vec::IntoIter`, as std's for strings: an `impl Iterator`
// here would capture `A` (edition 2024), tying the addresses to a borrowed
// `host` for no reason.
pub fn lookup_host<A: ToSocketAddrs>(host: A) -> io::Result<vec::IntoIter<SocketAddr>> {
    resolve(&host).map(Vec::into_iter)
}

/// Calls `f` with each address `addr` resolves to until one succeeds, like
/// std does; returns the last error otherwise.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in resolve(&addr)? {
        match f(&addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}

/// The first address `addr` resolves to (for `send_to`).
pub(crate) fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    each_addr(addr, |addr| Ok(*addr))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

    use super::*;

    #[test]
    fn every_textual_form_is_recognised_as_text() {
        let owned = String::from("example.com:80");
        let host = String::from("example.com");
        let borrowed: &str = &owned; // not 'static
        // Typed: `text` has no `ToSocketAddrs` bound to make a literal a u16.
        let port: u16 = 80;
        let pair = (host.as_str(), port);
        let owned_pair = (host.clone(), port);
        let host_port = Some(Text::HostPort("example.com:80"));
        let host_and_port = Some(Text::Host("example.com", 80));
        // Each form, and references to it one, two and three deep.
        assert_eq!(text(&borrowed), host_port);
        assert_eq!(text(&&borrowed), host_port);
        assert_eq!(text(&&&borrowed), host_port);
        assert_eq!(text(&&&&borrowed), host_port);
        assert_eq!(text(&"example.com:80"), host_port);
        assert_eq!(text(&&&"example.com:80"), host_port);
        assert_eq!(text(&owned.clone()), host_port);
        assert_eq!(text(&&owned), host_port);
        assert_eq!(text(&&&owned), host_port);
        assert_eq!(text(&&&&owned), host_port);
        assert_eq!(text(&pair), host_and_port);
        assert_eq!(text(&&pair), host_and_port);
        assert_eq!(text(&&&pair), host_and_port);
        assert_eq!(text(&&&&pair), host_and_port);
        assert_eq!(text(&owned_pair.clone()), host_and_port);
        assert_eq!(text(&&owned_pair), host_and_port);
        assert_eq!(text(&&&owned_pair), host_and_port);
        assert_eq!(text(&&&&owned_pair), host_and_port);
    }

    /// Whether `addr`, handed on by value as generic code over std's trait
    /// hands a borrowed address on, reaches `text` as text: the callee
    /// (`lookup_host`, `connect`...) takes a `B`, here `&A`, and looks at
    /// `&B`.
    fn text_when_passed_on<A: ToSocketAddrs>(addr: &A) -> bool {
        fn callee<B: ToSocketAddrs>(addr: B) -> bool {
            text(&addr).is_some()
        }
        callee(addr)
    }

    /// One more layer of generic code around it: `A` is itself a borrow.
    fn text_when_passed_on_twice<A: ToSocketAddrs>(addr: &A) -> bool {
        text_when_passed_on(&addr)
    }

    #[test]
    fn text_passed_on_by_generic_code_is_recognised() {
        let owned = String::from("example.com:80");
        let host = String::from("example.com");
        assert!(text_when_passed_on(&owned.as_str()), "&&str");
        assert!(text_when_passed_on(&&owned), "&&String");
        assert!(text_when_passed_on(&("example.com", 80)), "&(&str, u16)");
        assert!(text_when_passed_on(&&(host.clone(), 80)), "&&(String, u16)");
        assert!(text_when_passed_on_twice(&owned), "&&String, twice");
        assert!(text_when_passed_on_twice(&&owned), "&&&String, twice");
        assert!(
            text_when_passed_on_twice(&&(host.as_str(), 80)),
            "&&&(&str, u16), twice"
        );
    }

    /// A type of the program's own that implements std's trait.
    struct Custom(SocketAddr);

    impl ToSocketAddrs for Custom {
        type Iter = std::option::IntoIter<SocketAddr>;
        fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
            Ok(Some(self.0).into_iter())
        }
    }

    #[test]
    fn other_forms_are_not_text() {
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        let list = [v4];
        assert_eq!(text(&v4), None);
        assert_eq!(text(&SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1)), None);
        assert_eq!(text(&(IpAddr::from(Ipv4Addr::LOCALHOST), 1)), None);
        assert_eq!(text(&(Ipv6Addr::LOCALHOST, 1)), None);
        assert_eq!(text(&&list[..]), None);
        assert_eq!(text(&Custom(v4)), None);
        // A 'static string type std does not take is not text either.
        assert_eq!(text(&Box::<str>::from("example.com:80")), None);
        // Nor text under more than three references (resolved in place).
        let owned = String::from("127.0.0.1:80");
        assert_eq!(text(&&&&&owned), None);
    }

    #[test]
    fn numeric_and_custom_forms_resolve_in_place() {
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, 7));
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 7));
        assert_eq!(resolve(&"127.0.0.1:7").unwrap(), [v4]);
        assert_eq!(resolve(&String::from("[::1]:7")).unwrap(), [v6]);
        assert_eq!(resolve(&("::1", 7)).unwrap(), [v6]);
        assert_eq!(resolve(&(String::from("127.0.0.1"), 7)).unwrap(), [v4]);
        assert_eq!(resolve(&&[v4, v6][..]).unwrap(), [v4, v6]);
        assert_eq!(resolve(&Custom(v6)).unwrap(), [v6]);
        assert_eq!(
            resolve(&"no port").unwrap_err().kind(),
            io::ErrorKind::InvalidInput,
            "text without a port is refused, as std refuses it"
        );
    }
}
