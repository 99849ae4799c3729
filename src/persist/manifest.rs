//! The AOF directory's manifest, in Redis 7's multi-part layout: one line per file,
//! `file <name> seq <n> type <b|h|i>` (base, history, incremental), read in order: the base
//! first, then every incremental file. ringkv writes exactly what Redis 7.0 writes, so either
//! server loads the other's directory.
//!
//! A new manifest replaces the old one atomically: written to a temp file, fsynced, renamed
//! over the old name, and the directory fsynced, so a crash leaves either manifest whole.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Longest manifest read (Redis: lines are short and few; a bigger file is not a manifest).
pub const MANIFEST_BYTES_MAX: u64 = 1 << 20;

/// What a file of the AOF directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Base,
    History,
    Incr,
}

/// One manifest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

/// The parsed manifest: its base (if any), then incremental files in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Entry>,
    pub incrs: Vec<Entry>,
}

impl Manifest {
    /// Parse the manifest text (Redis's `aofLoadManifestFromFile`: key-value pairs per line,
    /// `#` comments, unknown keys ignored).
    pub fn parse(text: &str) -> anyhow::Result<Manifest> {
        let mut m = Manifest::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.len().is_multiple_of(2) {
                bail!("Invalid AOF manifest file format (line {})", n + 1);
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0] {
                    "file" => name = Some(pair[1].trim_matches('"').to_string()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match pair[1] {
                            "b" => Some(Kind::Base),
                            "h" => Some(Kind::History),
                            "i" => Some(Kind::Incr),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                bail!("Invalid AOF manifest file format (line {})", n + 1);
            };
            if name.contains('/') {
                bail!("File can't be a path, just a filename (line {})", n + 1);
            }
            let entry = Entry { name, seq, kind };
            match kind {
                Kind::Base if m.base.is_some() => bail!("Found duplicate base file information"),
                Kind::Base => m.base = Some(entry),
                Kind::Incr => m.incrs.push(entry),
                Kind::History => {}
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            bail!("Found an empty AOF manifest");
        }
        Ok(m)
    }

    /// The manifest text, as Redis writes it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for e in self.base.iter().chain(&self.incrs) {
            let t = match e.kind {
                Kind::Base => "b",
                Kind::History => "h",
                Kind::Incr => "i",
            };
            s.push_str(&format!("file {} seq {} type {t}\n", e.name, e.seq));
        }
        s
    }

    /// The next incremental file: `<basename>.<seq>.incr.aof` after the highest seq.
    pub fn next_incr(&self, basename: &str) -> Entry {
        let seq = self.incrs.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
        Entry { name: format!("{basename}.{seq}.incr.aof"), seq, kind: Kind::Incr }
    }

    /// The next base file: `<basename>.<seq>.base.aof` (RESP), or `.base.rdb` when `rdb`
    /// (an RDB-preamble base, `aof-use-rdb-preamble yes`).
    pub fn next_base(&self, basename: &str, rdb: bool) -> Entry {
        let seq = self.base.as_ref().map_or(0, |e| e.seq) + 1;
        let ext = if rdb { "rdb" } else { "aof" };
        Entry { name: format!("{basename}.{seq}.base.{ext}"), seq, kind: Kind::Base }
    }
}

/// The manifest's path in `dir`.
pub fn path(dir: &Path, basename: &str) -> PathBuf {
    dir.join(format!("{basename}.manifest"))
}

/// Read the manifest of `dir`, if there is one.
pub fn load(dir: &Path, basename: &str) -> anyhow::Result<Option<Manifest>> {
    let p = path(dir, basename);
    let meta = match std::fs::metadata(&p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    if meta.len() > MANIFEST_BYTES_MAX {
        bail!("{} is {} bytes: not an AOF manifest", p.display(), meta.len());
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    Manifest::parse(&text).map(Some).with_context(|| format!("in {}", p.display()))
}

/// Replace the manifest of `dir` atomically (temp file, fsync, rename, fsync the directory).
pub fn store(dir: &Path, basename: &str, m: &Manifest) -> anyhow::Result<()> {
    let final_path = path(dir, basename);
    let temp = dir.join(format!("temp-{basename}.manifest"));
    let mut f = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    f.write_all(m.render().as_bytes()).with_context(|| format!("writing {}", temp.display()))?;
    f.sync_all().with_context(|| format!("fsync {}", temp.display()))?;
    drop(f);
    std::fs::rename(&temp, &final_path).with_context(|| format!("renaming to {}", final_path.display()))?;
    sync_dir(dir)
}

/// fsync a directory, so a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("fsync directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_redis_manifests() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render(), text);
        assert_eq!(m.next_incr("appendonly.aof").name, "appendonly.aof.3.incr.aof");
        assert_eq!(m.next_base("appendonly.aof", false).name, "appendonly.aof.2.base.aof");
        assert_eq!(m.next_base("appendonly.aof", true).name, "appendonly.aof.2.base.rdb");
        assert!(Manifest::parse("file a seq 1\n").is_err());
        assert!(Manifest::parse("file ../x seq 1 type i\n").is_err());
        assert!(Manifest::parse("").is_err());
    }

    #[test]
    fn store_replaces_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest {
            base: Some(Entry { name: "a.1.base.aof".into(), seq: 1, kind: Kind::Base }),
            incrs: vec![Entry { name: "a.1.incr.aof".into(), seq: 1, kind: Kind::Incr }],
        };
        store(dir.path(), "a", &m).unwrap();
        assert_eq!(load(dir.path(), "a").unwrap(), Some(m));
        assert!(!dir.path().join("temp-a.manifest").exists());
        assert_eq!(load(dir.path(), "b").unwrap(), None);
    }
}
