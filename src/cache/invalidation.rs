//! Telling the other replicas that documents changed, over Redis pub/sub.
//!
//! A write, after it commits, publishes the keys it invalidated and waits for every
//! subscriber that received the message to acknowledge that it dropped the entries
//! (bounded by five Redis timeouts), so a read that begins on any replica after the
//! write was acknowledged does not see the old document.
//!
//! Pub/sub drops messages while a subscriber is disconnected, so a replica uses L1 for
//! documents only while its subscription is live (checked by a ping every
//! [`PING_EVERY`]), and empties L1 when it subscribes again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::redis;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cache::Caches;
use crate::cache::keys::Keys;
use crate::cache::redis::RedisCache;
use crate::sync;

/// How often the subscription is checked.
pub const PING_EVERY: Duration = Duration::from_millis(500);
/// Wait between attempts to subscribe.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// The replica that wrote.
    replica: u64,
    nonce: u64,
    keys: Vec<String>,
    /// The writing transaction, which the receivers fence the keys with.
    txid: u64,
}

pub struct Invalidations {
    /// This process, so it can tell its own messages and acknowledgements.
    replica: u64,
    channel: String,
    ack_channel: String,
    /// Whether the subscription is up: L1 may hold documents only then.
    live: AtomicBool,
    next_nonce: AtomicU64,
    /// Writes waiting for acknowledgements, by nonce.
    pending: Mutex<HashMap<u64, mpsc::UnboundedSender<()>>>,
    /// How long a write waits for the acknowledgements.
    ack_timeout: Duration,
}

impl Invalidations {
    pub fn new(keys: &Keys, redis_timeout: Duration) -> Invalidations {
        Invalidations {
            replica: rand::random(),
            channel: keys.invalidation_channel(),
            ack_channel: keys.ack_channel(),
            live: AtomicBool::new(false),
            next_nonce: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            ack_timeout: (redis_timeout * 5).max(Duration::from_millis(50)),
        }
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Publishes an invalidation and waits for the subscribers that received it.
    pub async fn broadcast(&self, l2: &RedisCache, keys: Vec<String>, txid: u64) {
        let nonce = self.next_nonce.fetch_add(1, Ordering::Relaxed);
        let (sender, mut acks) = mpsc::unbounded_channel();
        sync::lock(&self.pending).insert(nonce, sender);
        let message = Message {
            replica: self.replica,
            nonce,
            keys,
            txid,
        };
        if let Ok(payload) = serde_json::to_vec(&message)
            && let Some(receivers) = l2.publish(&self.channel, &payload).await
        {
            let all = async {
                for _ in 0..receivers {
                    if acks.recv().await.is_none() {
                        break;
                    }
                }
            };
            if tokio::time::timeout(self.ack_timeout, all).await.is_err() {
                metrics::counter!("cache_invalidation_ack_timeouts_total").increment(1);
                tracing::debug!(
                    receivers,
                    "cache: not every replica acknowledged an invalidation in time"
                );
            }
        }
        sync::lock(&self.pending).remove(&nonce);
    }

    fn acknowledged(&self, nonce: u64) {
        if let Some(sender) = sync::lock(&self.pending).get(&nonce) {
            let _ = sender.send(());
        }
    }
}

/// Follows the invalidation channel until `stop`: applies other replicas'
/// invalidations to L1 and acknowledges them.
pub async fn follow(caches: Arc<Caches>, url: String, stop: CancellationToken) {
    let client = match redis::Client::open(url) {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "cache: cannot follow invalidations");
            return;
        }
    };
    let invalidations = caches.invalidations.clone();
    let timeout = caches
        .l2
        .as_ref()
        .map_or(Duration::from_millis(100), |l2| l2.timeout());
    // Connecting may take longer than one cache call.
    let connect_timeout = (timeout * 10).max(Duration::from_millis(200));
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub
                .subscribe(&[&invalidations.channel, &invalidations.ack_channel])
                .await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            _ = stop.cancelled() => return,
            result = tokio::time::timeout(connect_timeout, subscribed) => result,
        };
        if let Ok(Ok(pubsub)) = pubsub {
            // Messages sent while unsubscribed are lost: start from an empty L1.
            caches.clear_l1();
            invalidations.live.store(true, Ordering::Release);
            tracing::info!("cache: following invalidations");
            let (mut sink, mut stream) = pubsub.split();
            let mut tick = tokio::time::interval(PING_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        invalidations.live.store(false, Ordering::Release);
                        return;
                    }
                    message = stream.next() => match message {
                        Some(message) => handle(&caches, &message).await,
                        None => break,
                    },
                    _ = tick.tick() => {
                        let ping = tokio::time::timeout(connect_timeout, sink.ping::<redis::Value>()).await;
                        if !matches!(ping, Ok(Ok(_))) {
                            break;
                        }
                    }
                }
            }
            invalidations.live.store(false, Ordering::Release);
            tracing::warn!(
                "cache: lost the invalidation channel; documents bypass L1 until it is back"
            );
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
        }
    }
}

async fn handle(caches: &Arc<Caches>, message: &redis::Msg) {
    let invalidations = &caches.invalidations;
    let channel = message.get_channel_name();
    let payload = message.get_payload_bytes();
    if channel == invalidations.ack_channel {
        let Some((replica, nonce)) = std::str::from_utf8(payload)
            .ok()
            .and_then(|text| text.split_once(':'))
        else {
            return;
        };
        if replica.parse::<u64>().ok() == Some(invalidations.replica)
            && let Ok(nonce) = nonce.parse()
        {
            invalidations.acknowledged(nonce);
        }
        return;
    }
    let Ok(message) = serde_json::from_slice::<Message>(payload) else {
        tracing::debug!("cache: ignored a malformed invalidation");
        return;
    };
    if message.replica == invalidations.replica {
        // Our own write: `invalidate_documents` already moved this process's counters
        // and dropped the keys from L1 before it broadcast.
        invalidations.acknowledged(message.nonce);
        return;
    }
    caches.drop_local(&message.keys, message.txid).await;
    if let Some(l2) = caches.l2.clone() {
        let ack_channel = invalidations.ack_channel.clone();
        let ack = format!("{}:{}", message.replica, message.nonce);
        tokio::spawn(async move {
            l2.publish(&ack_channel, ack.as_bytes()).await;
        });
    }
}
