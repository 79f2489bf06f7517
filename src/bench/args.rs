//! `--key value` command lines for the bench tools: every option takes one value, an option
//! may repeat (`--cpu-pid 1 --cpu-pid 2`), anything else is a usage error.

use std::collections::HashMap;
use std::str::FromStr;

/// Parsed options: name (without `--`) to its values in order.
pub struct Args {
    map: HashMap<String, Vec<String>>,
    positional: Vec<String>,
}

impl Args {
    /// Parse `argv` (without the program name); `positional` leading words are allowed first.
    pub fn parse(
        argv: impl IntoIterator<Item = String>,
        positional: usize,
    ) -> Result<Args, String> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        let mut pos = Vec::new();
        let mut it = argv.into_iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                map.entry(name.to_string()).or_default().push(v);
            } else if pos.len() < positional && map.is_empty() {
                pos.push(a);
            } else {
                return Err(format!("unexpected argument {a:?}"));
            }
        }
        Ok(Args {
            map,
            positional: pos,
        })
    }

    /// The leading words.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// The last value of `--name`.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// `--name` parsed, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.str(name) {
            None => Ok(default),
            Some(s) => s.parse().map_err(|_| format!("--{name} {s:?}: not valid")),
        }
    }

    /// `--name`, which must be given.
    pub fn need(&self, name: &str) -> Result<&str, String> {
        self.str(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// Every value of a repeated `--name`, parsed.
    pub fn all<T: FromStr>(&self, name: &str) -> Result<Vec<T>, String> {
        self.map
            .get(name)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|s| s.parse().map_err(|_| format!("--{name} {s:?}: not valid")))
            .collect()
    }

    /// Refuse options not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn parse(s: &str, pos: usize) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from), pos)
    }

    #[test]
    fn options_repeat_and_parse() {
        let a = parse("drain --n 10 --pid 1 --pid 2", 1).unwrap();
        assert_eq!(a.positional(), ["drain"]);
        assert_eq!(a.get("n", 0u32).unwrap(), 10);
        assert_eq!(a.get("m", 5u32).unwrap(), 5);
        assert_eq!(a.all::<u32>("pid").unwrap(), vec![1, 2]);
        assert!(a.only(&["n", "pid"]).is_ok());
        assert!(a.only(&["n"]).is_err());
        assert!(a.need("x").is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(parse("--n", 0).is_err());
        assert!(parse("stray", 0).is_err());
        assert!(parse("--n x", 0).unwrap().get("n", 0u32).is_err());
    }
}
