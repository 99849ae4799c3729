//! A real `redis-server` for the file-format interop tests (AOF, RDB, DUMP/RESTORE) and the
//! data both sides write and compare. Tests must not need Redis otherwise; these skip with a
//! note when it is not installed (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::Commands;

/// A real `redis-server` on a temp socket with `args`, or `None` (with a note) if it is not
/// installed.
pub struct Redis {
    child: std::process::Child,
    sock: PathBuf,
}

impl Redis {
    pub fn start(dir: &Path, args: &[&str]) -> Option<Redis> {
        let sock = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&sock)
            .arg("--dir")
            .arg(dir)
            .args(["--save", ""])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("note: redis-server not installed; interop test skipped (CI installs it)");
            return None;
        };
        let r = Redis { child, sock };
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.conn().is_none() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(r)
    }
    pub fn conn(&self) -> Option<redis::Connection> {
        let mut c = redis::Client::open(format!("unix://{}", self.sock.display())).ok()?.get_connection().ok()?;
        redis::cmd("PING").query::<String>(&mut c).ok()?;
        Some(c)
    }
    pub fn shutdown(mut self) {
        if let Some(mut c) = self.conn() {
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut c);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every key of db 0 and 1 with its type, value and deadline, read through `c`.
pub fn dump_all(c: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..2 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
        let mut keys: Vec<String> = c.keys("*").unwrap();
        keys.sort();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
            let v = match t.as_str() {
                "string" => c.get::<_, String>(&k).unwrap(),
                "list" => format!("{:?}", c.lrange::<_, Vec<String>>(&k, 0, -1).unwrap()),
                "hash" => {
                    let mut h: Vec<(String, String)> = c.hgetall(&k).unwrap();
                    h.sort();
                    format!("{h:?}")
                }
                "set" => {
                    let mut s: Vec<String> = c.smembers(&k).unwrap();
                    s.sort();
                    format!("{s:?}")
                }
                "zset" => format!("{:?}", c.zrange_withscores::<_, Vec<(String, f64)>>(&k, 0, -1).unwrap()),
                other => other.to_string(),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(c).unwrap();
            out.push(format!("{db} {k} {t} {v} {at}"));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
    out
}

/// Writes of every type, expiries, a transaction, two databases.
pub fn populate(c: &mut redis::Connection) {
    let _: () = c.set("s", "hello").unwrap();
    let _: () = redis::cmd("SET").arg("ttl").arg("x").arg("EX").arg(5000).query(c).unwrap();
    let _: i64 = c.incr("n", 41).unwrap();
    let _: f64 = redis::cmd("INCRBYFLOAT").arg("f").arg("1.25").query(c).unwrap();
    let _: i64 = c.rpush("l", &["a", "b", "c"]).unwrap();
    let _: i64 = c.hset_multiple::<_, _, _, ()>("h", &[("f1", "1"), ("f2", "2")]).map(|_| 0).unwrap();
    let _: i64 = c.sadd("set", &["x", "y", "z"]).unwrap();
    let _: Option<String> = redis::cmd("SPOP").arg("set").query(c).unwrap();
    let _: i64 = c.zadd_multiple("z", &[(1.5, "a"), (2.0, "b")]).unwrap();
    let _: i64 = c.expire("l", 9000).unwrap();
    let _: () = redis::pipe().atomic().set("t1", "1").incr("n", 1).ignore().query(c).unwrap();
    let _: () = redis::cmd("SELECT").arg(1).query(c).unwrap();
    let _: () = c.set("db1", "one").unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}
