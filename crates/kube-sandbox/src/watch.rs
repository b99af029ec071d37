//! Watch streams: synthetic `ADDED` events for the initial state (resourceVersion unset or `0`,
//! or `sendInitialEvents`), then every change after the start version read from the store's
//! history in commit order, bookmarks, `timeoutSeconds`, and a `410 Expired` ERROR event when the
//! start version (or a lagging reader) falls behind the retained history. Event objects come in
//! the negotiated view: whole, as a `Table`, or as `PartialObjectMetadata` (bookmarks too, as
//! kube-apiserver converts them).

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::error::ApiError;
use super::negotiation::partial_object_metadata;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ChangeEvent, EventType, Served, Store, StoredObject};
use super::table;
use super::verbs::present_value;

/// What a watch asks for.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// The namespace, or all.
    pub namespace: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// What the events' objects are converted to.
    pub view: WatchView,
}

/// The view of a watch's objects, from the request's `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchView {
    /// The objects as the resource serves them.
    Full,
    /// A `Table` per event (`kubectl get -w`), in `meta.k8s.io/<version>`, with `includeObject`.
    Table {
        /// `v1` or `v1beta1`.
        version: &'static str,
        /// `includeObject`.
        include_object: String,
    },
    /// `PartialObjectMetadata` in `meta.k8s.io/<version>`, bookmarks included.
    Metadata {
        /// `v1` or `v1beta1`.
        version: &'static str,
    },
}

/// Shared settings of the watch machinery.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// How often bookmarks are sent to watchers that allow them.
    pub bookmark_interval: Duration,
}

const BATCH: usize = 512;

struct Watcher {
    store: Arc<Store>,
    served: Served,
    request: WatchRequest,
    sender: mpsc::Sender<Bytes>,
}

impl Watcher {
    fn selects(&self, object: &StoredObject) -> bool {
        let value = &object.value;
        if let Some(namespace) = &self.request.namespace
            && super::object::meta_str(value, "namespace") != namespace
        {
            return false;
        }
        self.request.labels.matches(value) && self.request.fields.matches(value)
    }

    fn frame(&self, event_type: &str, object: &StoredObject) -> Bytes {
        let mut buffer = BytesMut::with_capacity(object.json().len() + 32);
        buffer.put_slice(b"{\"type\":\"");
        buffer.put_slice(event_type.as_bytes());
        buffer.put_slice(b"\",\"object\":");
        match &self.request.view {
            WatchView::Table {
                version,
                include_object,
            } => {
                let shown = present_value(&self.served, &object.value);
                let rendered =
                    table::to_table(&self.served.rt, &[shown], Value::Null, include_object);
                let rendered = super::negotiation::table_in_version(rendered, version);
                buffer.put_slice(&serde_json::to_vec(&rendered).unwrap_or_default());
            }
            WatchView::Metadata { version } => {
                let partial = partial_object_metadata(version, &object.value);
                buffer.put_slice(&serde_json::to_vec(&partial).unwrap_or_default());
            }
            WatchView::Full => buffer.put_slice(&super::verbs::present_bytes(&self.served, object)),
        }
        buffer.put_slice(b"}\n");
        buffer.freeze()
    }

    async fn send(&self, frame: Bytes) -> bool {
        self.sender.send(frame).await.is_ok()
    }

    async fn send_event(&self, event: &ChangeEvent) -> bool {
        if event.storage_key != self.served.storage_key {
            return true;
        }
        let now = self.selects(&event.object);
        let before = event.previous.as_ref().is_some_and(|p| self.selects(p));
        let event_type = match event.event_type {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now => "DELETED",
            _ => return true,
        };
        let frame = self.frame(event_type, &event.object);
        self.send(frame).await
    }

    async fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> bool {
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = match &self.request.view {
            WatchView::Metadata { version } => {
                partial_object_metadata(version, &json!({"metadata": metadata}))
            }
            WatchView::Full | WatchView::Table { .. } => json!({
                "kind": self.served.rt.kind,
                "apiVersion": self.served.rt.api_version(),
                "metadata": metadata,
            }),
        };
        let event = json!({"type": "BOOKMARK", "object": object});
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        self.send(Bytes::from(line)).await
    }

    async fn expired(&self, error: ApiError) {
        let event = json!({"type": "ERROR", "object": error.to_status()});
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        let _ = self.send(Bytes::from(line)).await;
    }
}

/// Starts a watch; the receiver yields the response body's chunks and ends with the watch.
pub fn start(
    store: Arc<Store>,
    served: Served,
    request: WatchRequest,
    settings: &WatchSettings,
    mut closer: watch::Receiver<u64>,
) -> mpsc::Receiver<Bytes> {
    let (sender, receiver) = mpsc::channel(256);
    let bookmark_interval = settings.bookmark_interval;
    let mut latest = store.subscribe();
    closer.mark_unchanged();
    tokio::spawn(async move {
        let watcher = Watcher {
            store,
            served,
            request,
            sender,
        };
        let deadline = tokio::time::Instant::now() + watcher.request.timeout;
        let requested = watcher.request.resource_version.clone().unwrap_or_default();
        let initial =
            requested.is_empty() || requested == "0" || watcher.request.send_initial_events;
        let mut cursor = if initial {
            let (objects, listed_at) = watcher.store.list(
                &watcher.served.storage_key,
                watcher.request.namespace.as_deref(),
                None,
            );
            for object in objects.iter().filter(|o| watcher.selects(o)) {
                if !watcher.send(watcher.frame("ADDED", object)).await {
                    return;
                }
            }
            if watcher.request.send_initial_events
                && watcher.request.bookmarks
                && !watcher.bookmark(listed_at, true).await
            {
                return;
            }
            listed_at
        } else {
            let Ok(version) = requested.parse::<u64>() else {
                watcher
                    .expired(ApiError::bad_request(format!(
                        "invalid resource version: {requested}"
                    )))
                    .await;
                return;
            };
            version
        };
        let mut ticker = tokio::time::interval(bookmark_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            // Drain everything committed after the cursor, in order.
            loop {
                match watcher.store.events_after(cursor, BATCH) {
                    Err(expired) => {
                        watcher
                            .expired(ApiError::expired(expired.requested, expired.oldest))
                            .await;
                        return;
                    }
                    Ok((events, covered)) => {
                        for event in &events {
                            if !watcher.send_event(event).await {
                                return;
                            }
                        }
                        cursor = cursor.max(covered);
                        if events.len() < BATCH {
                            break;
                        }
                    }
                }
            }
            tokio::select! {
                changed = latest.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = ticker.tick(), if watcher.request.bookmarks => {
                    if !watcher.bookmark(cursor, false).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = closer.changed() => return,
                _ = watcher.sender.closed() => return,
            }
        }
    });
    receiver
}
