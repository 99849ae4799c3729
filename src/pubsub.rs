//! Pub/sub: who is subscribed to what, and PUBLISH. Channels (and shard channels) map to
//! their subscribers in ahash-sharded maps; patterns are one list matched against every
//! published channel (as Redis does). A message is encoded once per protocol and handed to
//! each subscriber's connection through [`crate::clients`] (mailbox + owner wake-up), so it
//! reaches subscribers on every worker and engine without polling, and a subscriber that
//! stops reading is cut off by the pub/sub output buffer limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::clients::{ClientHandle, Clients, OutputLimit};
use crate::glob;
use crate::reply::{self, Out, Proto};

/// Channel map shards (a PUBLISH locks one).
const CHANNEL_SHARDS: usize = 16;

/// Plain channels or shard channels (SSUBSCRIBE / SPUBLISH: on a single node the same
/// delivery, kept apart as Redis keeps them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Shard,
}

/// One subscription: the connection and the protocol it subscribed with.
#[derive(Clone)]
struct Sub {
    handle: Arc<ClientHandle>,
    proto: Proto,
}

type ChannelMap = HashMap<Box<[u8]>, Vec<Sub>, ahash::RandomState>;

pub struct PubSub {
    channels: Vec<Mutex<ChannelMap>>,
    shard_channels: Vec<Mutex<ChannelMap>>,
    /// (pattern, subscriber).
    patterns: RwLock<Vec<(Box<[u8]>, Sub)>>,
    hasher: ahash::RandomState,
}

impl Default for PubSub {
    fn default() -> Self {
        let maps = || (0..CHANNEL_SHARDS).map(|_| Mutex::new(ChannelMap::default())).collect();
        PubSub {
            channels: maps(),
            shard_channels: maps(),
            patterns: RwLock::new(Vec::new()),
            hasher: ahash::RandomState::new(),
        }
    }
}

/// A message encoded for each protocol, built on first use.
struct Encoded<'a> {
    parts: [&'a [u8]; 4],
    len: usize,
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl<'a> Encoded<'a> {
    fn new(parts: &[&'a [u8]]) -> Self {
        let mut p: [&[u8]; 4] = [b""; 4];
        p[..parts.len()].copy_from_slice(parts);
        Encoded { parts: p, len: parts.len(), resp2: None, resp3: None }
    }
    fn bytes(&mut self, proto: Proto) -> &[u8] {
        let parts = &self.parts[..self.len];
        let slot = if proto == Proto::Resp3 { &mut self.resp3 } else { &mut self.resp2 };
        slot.get_or_insert_with(|| {
            let mut out = Out::with_proto(proto);
            reply::push(&mut out, parts.len());
            for p in parts {
                reply::bulk(&mut out, p);
            }
            out.take()
        })
    }
}

impl PubSub {
    fn map(&self, kind: Kind, channel: &[u8]) -> MutexGuard<'_, ChannelMap> {
        let i = self.hasher.hash_one(channel) as usize % CHANNEL_SHARDS;
        let maps = if kind == Kind::Shard { &self.shard_channels } else { &self.channels };
        maps[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a subscription (the caller checked it is new for this client).
    pub fn subscribe(&self, kind: Kind, channel: &[u8], handle: &Arc<ClientHandle>, proto: Proto) {
        let sub = Sub { handle: handle.clone(), proto };
        self.map(kind, channel).entry(channel.into()).or_default().push(sub);
    }

    pub fn unsubscribe(&self, kind: Kind, channel: &[u8], id: u64) {
        let mut map = self.map(kind, channel);
        if let Some(subs) = map.get_mut(channel) {
            subs.retain(|s| s.handle.id != id);
            if subs.is_empty() {
                map.remove(channel);
            }
        }
    }

    pub fn psubscribe(&self, pattern: &[u8], handle: &Arc<ClientHandle>, proto: Proto) {
        let sub = Sub { handle: handle.clone(), proto };
        self.patterns.write().unwrap_or_else(|e| e.into_inner()).push((pattern.into(), sub));
    }

    pub fn punsubscribe(&self, pattern: &[u8], id: u64) {
        self.patterns
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(p, s)| !(s.handle.id == id && **p == *pattern));
    }

    /// Deliver `message` on `channel` to every subscriber, and (plain channels) to every
    /// matching pattern subscriber. Returns the number of receivers.
    pub fn publish(
        &self,
        clients: &Clients,
        kind: Kind,
        channel: &[u8],
        message: &[u8],
        limit: OutputLimit,
        now_ms: u64,
    ) -> usize {
        let subs: Vec<Sub> = self.map(kind, channel).get(channel).cloned().unwrap_or_default();
        let name: &[u8] = if kind == Kind::Shard { b"smessage" } else { b"message" };
        let mut msg = Encoded::new(&[name, channel, message]);
        let limit = Some((limit, now_ms));
        for s in &subs {
            clients.deliver(&s.handle, msg.bytes(s.proto), limit);
        }
        if kind == Kind::Shard {
            return subs.len();
        }
        let patterns = self.patterns.read().unwrap_or_else(|e| e.into_inner());
        let mut receivers = subs.len();
        for (pattern, s) in patterns.iter().filter(|(p, _)| glob::matches(p, channel, false)) {
            let mut pmsg = Encoded::new(&[b"pmessage", pattern, channel, message]);
            clients.deliver(&s.handle, pmsg.bytes(s.proto), limit);
            receivers += 1;
        }
        receivers
    }

    /// Active channels (with at least one subscriber) matching `pattern` (all if `None`).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Box<[u8]>> {
        let maps = if kind == Kind::Shard { &self.shard_channels } else { &self.channels };
        let mut out = Vec::new();
        for m in maps {
            let m = m.lock().unwrap_or_else(|e| e.into_inner());
            out.extend(m.keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false))).cloned());
        }
        out
    }

    /// Subscribers of one channel.
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.map(kind, channel).get(channel).map_or(0, Vec::len)
    }

    /// Pattern subscriptions in total (PUBSUB NUMPAT counts unique patterns).
    pub fn numpat(&self) -> usize {
        let patterns = self.patterns.read().unwrap_or_else(|e| e.into_inner());
        let mut unique: Vec<&[u8]> = patterns.iter().map(|(p, _)| &**p).collect();
        unique.sort_unstable();
        unique.dedup();
        unique.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ConnInfo;

    #[test]
    fn publish_reaches_channel_and_pattern_subscribers_in_their_protocol() {
        let clients = Clients::default();
        let ps = PubSub::default();
        let a = clients.register(1, ConnInfo::detached(), 0);
        let b = clients.register(2, ConnInfo::detached(), 0);
        ps.subscribe(Kind::Channel, b"news", &a, Proto::Resp2);
        ps.psubscribe(b"n*", &b, Proto::Resp3);
        let n = ps.publish(&clients, Kind::Channel, b"news", b"hi", OutputLimit::default(), 0);
        assert_eq!(n, 2);
        assert_eq!(a.take_mail(), b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
        assert_eq!(b.take_mail(), b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
        assert_eq!(ps.publish(&clients, Kind::Shard, b"news", b"x", OutputLimit::default(), 0), 0);
        assert_eq!(ps.numsub(Kind::Channel, b"news"), 1);
        assert_eq!(ps.numpat(), 1);
        assert_eq!(ps.channels(Kind::Channel, Some(b"ne*")), vec![Box::from(&b"news"[..])]);
        ps.unsubscribe(Kind::Channel, b"news", 1);
        ps.punsubscribe(b"n*", 2);
        assert_eq!(ps.publish(&clients, Kind::Channel, b"news", b"hi", OutputLimit::default(), 0), 0);
        assert!(ps.channels(Kind::Channel, None).is_empty());
    }
}
