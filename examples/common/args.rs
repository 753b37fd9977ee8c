//! The command lines of the Guide's examples that `lexopt` reads
//! (`asyncsrv`, `mtserver`, `rtreq`, `identity`, `syncpub`, `syncsub`,
//! `ppqueue`, `ppworker`, `version`): a flag's value parsed with the flag
//! named in the error, and what `main` does with a command line that asks
//! for help or does not parse. Each includes this file with `#[path]`;
//! `common/` holds no example of its own.

#![allow(dead_code, reason = "each example uses a part")]

use std::ffi::OsString;
use std::fmt::Display;
use std::process::ExitCode;
use std::str::FromStr;

/// `value`, given to `name` (a flag or `<argument>`), as a `T`; an error
/// that names `name` if it is not one.
pub(crate) fn parse<T>(name: &str, value: OsString) -> Result<T, lexopt::Error>
where
    T: FromStr,
    T::Err: Display,
{
    let text = value
        .into_string()
        .map_err(|value| format!("{name}: {value:?} is not text"))?;
    text.parse().map_err(|e| format!("{name}: {text:?}: {e}").into())
}

/// What a command line parsed into (`Ok(None)`: it asked for `--help`)
/// becomes in `main`: the configuration, or the status to exit with once
/// the help is printed on stdout (success) or the problem and `usage` on
/// stderr (status 2, as for any other bad command line).
pub(crate) fn or_exit<T>(
    program: &str,
    parsed: Result<Option<T>, lexopt::Error>,
    usage: &str,
    help: &str,
) -> Result<T, ExitCode> {
    match parsed {
        Ok(Some(config)) => Ok(config),
        Ok(None) => {
            println!("{usage}\n{help}");
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{program}: {e}\n{usage}");
            Err(ExitCode::from(2))
        }
    }
}
