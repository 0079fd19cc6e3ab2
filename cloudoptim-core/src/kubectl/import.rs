//! kubectl JSON → snapshot.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::io::{BufReader, Error, Read};

use super::segments::{SegmentStart, Segments};
use super::wire::{self, IntOrString, RawQuantity, ResourceMap};
use super::{KubectlError, KubectlImport};
use crate::quantity::{float_as_written, parse_millis, parse_units, QuantityError, INEXACT_NUMBER};
use crate::resources::{Dimension, Resources};
use crate::snapshot::{
    node_labels, Container, ContainerStatus, HorizontalPodAutoscaler, HpaMetric, IntOrPercent,
    Limits, Namespace, Node, NodeAffinity, ObjectRef, OwnerRef, PersistentVolume,
    PersistentVolumeClaim, Pod, PodAffinity, PodDisruptionBudget, PodTemplate, PodVolume,
    SelectorOperator, Service, ServiceType, SnapshotList, Termination, VolumeSource, Workload,
    WorkloadKind,
};

/// GPU resource names counted as GPUs.
const GPU_RESOURCES: [&str; 2] = ["nvidia.com/gpu", "amd.com/gpu"];
/// Node labels that carry the zone of a volume's node affinity.
const VOLUME_ZONE_KEYS: [&str; 3] = [
    "topology.ebs.csi.aws.com/zone",
    node_labels::ZONE,
    node_labels::ZONE_BETA,
];

/// An error inside one item, before the item's identity is attached.
struct FieldError {
    field: String,
    message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl ToString) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Read `kubectl get … -o json` output (a `List`, or one object) into a snapshot.
///
/// Also read: raw API lists (`NodeList`, `PodList`, … as `GET /api/v1/nodes`
/// returns them), whose items carry no `kind` and take the list's item
/// kind; and `kubectl cluster-info dump` output, several such lists one
/// after the other with container logs (`==== START logs for … ==== END
/// logs for …`) between them, which are skipped.
///
/// The list is read as it is parsed, one item at a time, so a file of a
/// large cluster never sits in memory as one JSON tree. Two items of one
/// identity (see [`ClusterSnapshot::check_unique`](crate::ClusterSnapshot::check_unique))
/// are an error, [`KubectlError::Duplicate`], naming both items.
///
/// Each item is decoded from its own text, so a quantity written as a JSON
/// number (`"cpu": 0.5`, `"memory": 18446744073709551616`) is read, or
/// refused, exactly as written, and so is a PDB's `minAvailable`; only
/// `emptyDir.sizeLimit`, read through a generic JSON tree, takes a fraction
/// or an integer beyond 64 bits only when its nearest `f64` says for certain
/// what was written (see [`Quantity`](crate::quantity::Quantity)'s
/// `Deserialize`). A field given twice in one object is an error naming it.
pub fn read_list(json: &str) -> Result<KubectlImport, KubectlError> {
    read_list_from(json.as_bytes())
}

/// [`read_list`] from any reader (a file, a pipe, a decompressor), one
/// item at a time: the input is never held whole, only the item being
/// decoded and the snapshot built so far. `input` is read 64 KiB at a
/// time, so it needs no buffering of its own.
///
/// A failure to read is [`KubectlError::Read`].
///
/// ```
/// # use cloudoptim_core::kubectl::read_list_from;
/// let text = r#"{"kind": "List", "items": [
///   {"kind": "Node", "metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "2"}}}
/// ]}"#;
/// let import = read_list_from(text.as_bytes()).unwrap();
/// assert_eq!(import.snapshot.nodes[0].allocatable.cpu_millis, 2000);
/// ```
pub fn read_list_from<R: Read>(input: R) -> Result<KubectlImport, KubectlError> {
    let mut segments = Segments::new(input).map_err(read_error)?;
    let mut state = Streaming::default();
    let mut documents = 0usize;
    loop {
        let start = match segments.next_segment().map_err(read_error)? {
            Some(start) => start,
            // No JSON at all: an error from the parser, as for empty input.
            None if documents == 0 => SegmentStart { line: 1, column: 0 },
            None => break,
        };
        // Buffered, as the parser reads a byte at a time; the segment ends
        // (the reader returns 0) before any log block, so nothing buffered
        // is lost when the parser is done with it.
        let mut deserializer = serde_json::Deserializer::from_reader(BufReader::new(&mut segments));
        loop {
            let parsed =
                serde::de::DeserializeSeed::deserialize(Root(&mut state), &mut deserializer);
            // An item's typed error, or a root of the wrong shape, says more
            // than the parser's "stopped here" that it caused.
            if let Some(failure) = state.failure.take() {
                return Err(failure);
            }
            parsed.map_err(|e| json_error(&e, start))?;
            documents += 1;
            state.end_document()?;
            match deserializer.end() {
                Ok(()) => break,
                // Another document follows (cluster-info dump).
                Err(e) if e.is_syntax() => continue,
                Err(e) => return Err(json_error(&e, start)),
            }
        }
    }
    state.reader.finish_unique()
}

fn read_error(e: Error) -> KubectlError {
    KubectlError::Read {
        message: e.to_string(),
    }
}

fn json_error(e: &serde_json::Error, start: SegmentStart) -> KubectlError {
    if e.is_io() {
        return KubectlError::Read {
            message: e.to_string(),
        };
    }
    KubectlError::Json {
        line: e.line() + start.line - 1,
        column: e.column() + if e.line() == 1 { start.column } else { 0 },
        message: e.to_string(),
    }
}

/// What [`read_list`] has seen so far.
#[derive(Default)]
struct Streaming {
    reader: ListReader,
    /// Of the current document: whether it had `items`.
    saw_items: bool,
    /// Of the current document: its fields other than `items` (all of a
    /// single object).
    rest: Vec<(String, String)>,
    /// Of the current document: the kind its items have when they do not
    /// say (`Node` in a `NodeList`), once its `kind` has been read.
    item_kind: Option<(String, Option<String>)>,
    /// Of the current document: items without `kind` read before the
    /// list's own `kind`, as text.
    kindless: Vec<String>,
    failure: Option<KubectlError>,
}

impl Streaming {
    /// Read one item of the current document, from its text. An item
    /// without `kind` takes the list's item kind; before the list's `kind`
    /// has been read, it waits for it.
    fn item(&mut self, text: &str) -> Result<(), KubectlError> {
        let held =
            self.reader
                .push_item_or_return(Item::Text(text), self.item_kind.as_ref(), true)?;
        if let Some(waiting) = held {
            self.kindless.push(waiting.to_owned());
        }
        Ok(())
    }

    /// A root field other than `items`, as its JSON text.
    fn field(&mut self, key: String, raw: &str) {
        let text = |raw: &str| serde_json::from_str::<String>(raw).ok();
        if key == "kind" {
            let api = self
                .rest
                .iter()
                .find(|(k, _)| k == "apiVersion")
                .and_then(|(_, v)| text(v));
            self.item_kind = text(raw)
                .and_then(|k| k.strip_suffix("List").map(str::to_owned))
                .filter(|k| !k.is_empty())
                .map(|k| (k, api));
        }
        if key == "apiVersion" {
            if let (Some((_, v)), Some(api)) = (&mut self.item_kind, text(raw)) {
                *v = Some(api);
            }
        }
        self.rest.push((key, raw.to_owned()));
    }

    /// The current document is parsed: read what it held back.
    fn end_document(&mut self) -> Result<(), KubectlError> {
        let kindless = std::mem::take(&mut self.kindless);
        let rest = std::mem::take(&mut self.rest);
        let saw_items = std::mem::take(&mut self.saw_items);
        if saw_items {
            for text in &kindless {
                // With the list's kind when it has one; else the item is
                // counted as skipped, of no kind.
                self.reader.push_item_or_return(
                    Item::Text(text),
                    self.item_kind.as_ref(),
                    false,
                )?;
            }
        } else if rest.iter().any(|(k, _)| k == "kind") {
            // One object: its text again, field by field as written, so its
            // numbers read exactly.
            let mut text = String::from("{");
            for (i, (key, raw)) in rest.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&serde_json::to_string(key).unwrap_or_default());
                text.push(':');
                text.push_str(raw);
            }
            text.push('}');
            self.reader.push_item(Item::Text(&text))?;
        } else {
            return Err(KubectlError::NotAList {
                found: "an object with neither `items` nor `kind`".into(),
            });
        }
        self.item_kind = None;
        Ok(())
    }
}

/// The root: an object whose `items` are streamed into the reader.
struct Root<'s>(&'s mut Streaming);

impl<'de> serde::de::DeserializeSeed<'de> for Root<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Root<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a kubectl List or object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(Items(&mut *self.0))?;
            } else {
                let value: Box<RawValue> = map.next_value()?;
                self.0.field(key, value.get());
            }
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(not_a_list(self.0, "an array".into()))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Err(not_a_list(self.0, "a string".into()))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Err(not_a_list(self.0, "a boolean".into()))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Err(not_a_list(self.0, "a number".into()))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Err(not_a_list(self.0, "a number".into()))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Err(not_a_list(self.0, "a number".into()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Err(not_a_list(self.0, "null".into()))
    }
}

/// `items`: each element goes to the reader as soon as it is parsed.
struct Items<'s>(&'s mut Streaming);

impl<'de> serde::de::DeserializeSeed<'de> for Items<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.saw_items = true;
        // Each item as its own text, decoded by the reader and dropped.
        while let Some(item) = seq.next_element::<Box<RawValue>>()? {
            if let Err(e) = self.0.item(item.get()) {
                self.0.failure = Some(e);
                return Err(serde::de::Error::custom("malformed item"));
            }
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(not_a_list(self.0, "`items` of type an object".into()))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Err(not_a_list(self.0, "`items` of type a string".into()))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Err(not_a_list(self.0, "`items` of type a boolean".into()))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Err(not_a_list(self.0, "`items` of type a number".into()))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Err(not_a_list(self.0, "`items` of type a number".into()))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Err(not_a_list(self.0, "`items` of type a number".into()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Err(not_a_list(self.0, "`items` of type null".into()))
    }
}

/// Record that the input is not a list, and stop the parser.
fn not_a_list<E: serde::de::Error>(state: &mut Streaming, found: String) -> E {
    state.failure = Some(KubectlError::NotAList { found });
    E::custom("not a kubectl List")
}

/// Builds a snapshot one object at a time, from the pages of paginated API
/// lists say, so the whole cluster never has to sit in memory as JSON.
///
/// Objects are told apart by their `kind`; objects of kinds CloudOptim does
/// not read are counted in [`KubectlImport::skipped_kinds`].
#[derive(Debug, Default)]
pub struct ListReader {
    import: KubectlImport,
    index: usize,
    /// For each list of the snapshot, the position among the objects
    /// pushed of each of its entries.
    positions: std::collections::BTreeMap<SnapshotList, Vec<usize>>,
}

impl ListReader {
    /// An empty reader.
    pub fn new() -> ListReader {
        ListReader::default()
    }

    /// Read one object (with its `kind` set). A malformed object is an error
    /// naming its position among the objects pushed so far, its kind, name
    /// and the field that was wrong; the reader stays usable.
    ///
    /// A `Value` holds what the JSON parser made of each number: a quantity
    /// written as a fraction or an integer beyond 64 bits is already a
    /// 64-bit float here ([`read_list`] reads numbers from the text).
    pub fn push(&mut self, item: Value) -> Result<(), KubectlError> {
        self.push_item(Item::Value(item))
    }

    fn push_item(&mut self, item: Item<'_>) -> Result<(), KubectlError> {
        self.push_item_or_return(item, None, false).map(|_| ())
    }

    /// Read `item`; one without `kind` takes `default` (kind, API version)
    /// when given; without one, it is handed back unread when `hold` (a raw
    /// API list's item seen before the list's `kind`), else read as it is.
    fn push_item_or_return<'a>(
        &mut self,
        item: Item<'a>,
        default: Option<&(String, Option<String>)>,
        hold: bool,
    ) -> Result<Option<&'a str>, KubectlError> {
        let mut header = item.header();
        if header.kind.is_none() {
            match (default, &item) {
                (Some((kind, api)), _) => {
                    header.kind = Some(kind.clone());
                    if header.api_version.is_none() {
                        header.api_version.clone_from(api);
                    }
                }
                (None, Item::Text(text)) if hold => return Ok(Some(text)),
                (None, _) => {}
            }
        }
        let index = self.index;
        self.index += 1;
        let kind = header.kind.clone().unwrap_or_default();
        let name = header.name();
        let list =
            read_item(&mut self.import, &header, item).map_err(|e| KubectlError::Object {
                index,
                kind: if kind.is_empty() {
                    "<no kind>".into()
                } else {
                    kind.clone()
                },
                name,
                field: e.field,
                message: e.message,
            })?;
        if let Some(list) = list {
            self.positions.entry(list).or_default().push(index);
        }
        Ok(None)
    }

    /// The snapshot, with workload owners resolved. It is not checked for
    /// repeated objects: call [`ClusterSnapshot::check_unique`](crate::ClusterSnapshot::check_unique)
    /// on it, or use [`finish_unique`](ListReader::finish_unique).
    pub fn finish(mut self) -> KubectlImport {
        self.import.snapshot.resolve_owners();
        self.import
    }

    /// [`finish`](ListReader::finish), but two objects of one identity are
    /// an error, [`KubectlError::Duplicate`], naming their positions among
    /// the objects pushed.
    pub fn finish_unique(self) -> Result<KubectlImport, KubectlError> {
        if let Err(d) = self.import.snapshot.check_unique() {
            let at = |i: usize| {
                self.positions
                    .get(&d.list)
                    .and_then(|p| p.get(i))
                    .copied()
                    .unwrap_or(i)
            };
            return Err(KubectlError::Duplicate {
                index: at(d.second),
                first_index: at(d.first),
                kind: d.kind,
                name: d.identity,
            });
        }
        Ok(self.finish())
    }
}

/// One object, as JSON text (from [`read_list`]) or as a tree.
enum Item<'a> {
    Text(&'a str),
    Value(Value),
}

impl Item<'_> {
    /// Its kind, API version and name, leniently: an item that is not an
    /// object, or has them of the wrong type, has none.
    fn header(&self) -> Header {
        match self {
            Item::Text(text) => serde_json::from_str(text).unwrap_or_default(),
            Item::Value(value) => Header::deserialize(value).unwrap_or_default(),
        }
    }
}

/// What names an item in errors and decides how it is read.
#[derive(Default)]
struct Header {
    kind: Option<String>,
    api_version: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

impl Header {
    fn name(&self) -> String {
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            (None, Some(name)) => name.clone(),
            _ => "<unnamed>".into(),
        }
    }
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Header, D::Error> {
        d.deserialize_any(HeaderVisitor)
    }
}

/// Reads [`Header`] from an item, ignoring everything else; the last of
/// repeated keys wins, as in a JSON tree.
struct HeaderVisitor;

impl<'de> serde::de::Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let string = |v: Value| match v {
            Value::String(s) => Some(s),
            _ => None,
        };
        let mut header = Header::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "kind" => header.kind = string(map.next_value()?),
                "apiVersion" => header.api_version = string(map.next_value()?),
                "metadata" => {
                    let mut meta: Value = map.next_value()?;
                    header.name = string(meta.get_mut("name").map(Value::take).unwrap_or_default());
                    header.namespace = string(
                        meta.get_mut("namespace")
                            .map(Value::take)
                            .unwrap_or_default(),
                    );
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(header)
    }

    // Not an object: no header.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Header, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Header::default())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Header, E> {
        Ok(Header::default())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Header, E> {
        Ok(Header::default())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Header, E> {
        Ok(Header::default())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Header, E> {
        Ok(Header::default())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Header, E> {
        Ok(Header::default())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Header, E> {
        Ok(Header::default())
    }
}

/// Deserialize an item into a wire type, naming the failing field.
fn decode<T: DeserializeOwned>(item: Item<'_>) -> Result<T, FieldError> {
    let decoded = match item {
        Item::Text(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de)
        }
        Item::Value(value) => serde_path_to_error::deserialize(value),
    };
    decoded.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // The item's own line and column say nothing the field path does not.
        let message = inner.to_string();
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = message.strip_suffix(&position).unwrap_or(&message);
        FieldError::new(if path == "." { String::new() } else { path }, message)
    })
}

/// Read one item into the snapshot; returns the list it went to, `None`
/// for a skipped kind.
fn read_item(
    import: &mut KubectlImport,
    header: &Header,
    item: Item<'_>,
) -> Result<Option<SnapshotList>, FieldError> {
    let snapshot = &mut import.snapshot;
    let list = match header.kind.as_deref().unwrap_or_default() {
        "Node" => {
            snapshot.nodes.push(node(decode(item)?)?);
            SnapshotList::Nodes
        }
        "Pod" => {
            snapshot.pods.push(pod(decode(item)?)?);
            SnapshotList::Pods
        }
        "PodDisruptionBudget" => {
            snapshot.pdbs.push(pdb(decode(item)?)?);
            SnapshotList::Pdbs
        }
        "PersistentVolume" => {
            snapshot.persistent_volumes.push(pv(decode(item)?)?);
            SnapshotList::PersistentVolumes
        }
        "PersistentVolumeClaim" => {
            snapshot.persistent_volume_claims.push(pvc(decode(item)?)?);
            SnapshotList::PersistentVolumeClaims
        }
        "Namespace" => {
            snapshot.namespaces.push(namespace_object(decode(item)?)?);
            SnapshotList::Namespaces
        }
        "Service" => {
            snapshot.services.push(service(decode(item)?)?);
            SnapshotList::Services
        }
        "HorizontalPodAutoscaler" => {
            snapshot
                .horizontal_pod_autoscalers
                .push(autoscaler(decode(item)?)?);
            SnapshotList::HorizontalPodAutoscalers
        }
        other => match WorkloadKind::from_kind(other) {
            Some(kind) => {
                snapshot.workloads.push(workload(kind, decode(item)?)?);
                SnapshotList::Workloads
            }
            None => {
                let api_version = header.api_version.as_deref().unwrap_or_default();
                let key = match (api_version, other) {
                    (_, "") => "<no kind>".to_owned(),
                    ("", kind) => kind.to_owned(),
                    (api_version, kind) => format!("{api_version}/{kind}"),
                };
                *import.skipped_kinds.entry(key).or_default() += 1;
                return Ok(None);
            }
        },
    };
    Ok(Some(list))
}

fn required_name(meta: &wire::ObjectMeta) -> Result<String, FieldError> {
    if meta.name.is_empty() {
        Err(FieldError::new("metadata.name", "empty name"))
    } else {
        Ok(meta.name.clone())
    }
}

fn namespace(meta: &wire::ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_else(|| "default".into())
}

fn quantity(
    path: &str,
    name: &str,
    raw: &RawQuantity,
    parse: fn(&str) -> Result<u64, QuantityError>,
) -> Result<u64, FieldError> {
    parse(&raw.0).map_err(|e| FieldError::new(format!("{path}.{name}"), e))
}

/// Read a resource map into a vector; `pods` only where it is meaningful (nodes).
fn resources(path: &str, map: &ResourceMap) -> Result<Resources, FieldError> {
    let mut out = Resources::ZERO;
    for (name, raw) in map {
        match name.as_str() {
            "cpu" => out.cpu_millis = quantity(path, name, raw, parse_millis)?,
            "memory" => out.memory_bytes = quantity(path, name, raw, parse_units)?,
            "pods" => out.pods = quantity(path, name, raw, parse_units)?,
            "ephemeral-storage" => {
                out.ephemeral_storage_bytes = quantity(path, name, raw, parse_units)?
            }
            n if GPU_RESOURCES.contains(&n) => {
                let millis = quantity(path, name, raw, parse_millis)?;
                out.gpu_millis = out.gpu_millis.checked_add(millis).ok_or_else(|| {
                    FieldError::new(format!("{path}.{name}"), "GPUs in total are out of range")
                })?;
            }
            // hugepages-*, attachable-volumes-*, vpc.amazonaws.com/*: not scheduled on here.
            _ => {}
        }
    }
    Ok(out)
}

/// Whether `map` names dimension `d` (any GPU resource counts for GPUs).
fn names(map: &ResourceMap, d: Dimension) -> bool {
    map.keys().any(|k| match d {
        Dimension::Gpu => GPU_RESOURCES.contains(&k.as_str()),
        _ => k == d.kubernetes_name(),
    })
}

fn limits(path: &str, map: &ResourceMap) -> Result<Limits, FieldError> {
    let r = resources(path, map)?;
    let pick = |d: Dimension| names(map, d).then(|| r.get(d));
    Ok(Limits {
        cpu_millis: pick(Dimension::Cpu),
        memory_bytes: pick(Dimension::Memory),
        gpu_millis: pick(Dimension::Gpu),
        ephemeral_storage_bytes: pick(Dimension::EphemeralStorage),
    })
}

fn containers(path: &str, wire: &[wire::Container]) -> Result<Vec<Container>, FieldError> {
    // Sized exactly: collecting `Result`s would reserve room for four.
    let mut out = Vec::with_capacity(wire.len());
    for (i, c) in wire.iter().enumerate() {
        let base = format!("{path}[{i}].resources");
        let limits = limits(&format!("{base}.limits"), &c.resources.limits)?;
        let mut requests = resources(&format!("{base}.requests"), &c.resources.requests)?;
        requests.pods = 0;
        // As the API server defaults: a limit without a request is the request.
        for d in Dimension::ALL {
            if !names(&c.resources.requests, d) {
                if let Some(limit) = limits.get(d) {
                    *requests.get_mut(d) = limit;
                }
            }
        }
        out.push(Container {
            name: c.name.clone(),
            requests,
            limits,
            sidecar: c.restart_policy.as_deref() == Some("Always"),
        });
    }
    Ok(out)
}

/// The controller among the owner references: the one with `controller: true`
/// (an owner without it, such as a ConfigMap, does not control the object).
fn owner(refs: &[wire::OwnerReference]) -> Option<OwnerRef> {
    refs.iter()
        .find(|r| r.controller == Some(true))
        .map(|r| OwnerRef {
            kind: r.kind.clone(),
            name: r.name.clone(),
        })
}

fn node(n: wire::Node) -> Result<Node, FieldError> {
    let mut node = Node {
        name: required_name(&n.metadata)?,
        provider_id: n.spec.provider_id,
        instance_id: None,
        instance_type: None,
        zone: None,
        region: None,
        capacity_type: Default::default(),
        labels: n.metadata.labels,
        annotations: n.metadata.annotations,
        taints: n.spec.taints,
        capacity: resources("status.capacity", &n.status.capacity)?,
        allocatable: resources("status.allocatable", &n.status.allocatable)?,
        created_at: n.metadata.creation_timestamp,
        unschedulable: n.spec.unschedulable,
        ready: n
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
    };
    node.derive_from_labels();
    Ok(node)
}

fn volume(path: &str, v: &wire::Volume) -> Result<PodVolume, FieldError> {
    let (kind, body) = v
        .source
        .iter()
        .next()
        .ok_or_else(|| FieldError::new(path, "volume without a source"))?;
    let str_field = |k: &str| body.get(k).and_then(Value::as_str);
    let source = match kind.as_str() {
        "emptyDir" => VolumeSource::EmptyDir {
            in_memory: str_field("medium") == Some("Memory"),
            size_limit_bytes: body
                .get("sizeLimit")
                .filter(|v| !v.is_null())
                .map(|v| {
                    let field = || format!("{path}.emptyDir.sizeLimit");
                    let raw = tree_quantity(v).map_err(|e| FieldError::new(field(), e))?;
                    parse_units(&raw.0).map_err(|e| FieldError::new(field(), e))
                })
                .transpose()?,
        },
        "persistentVolumeClaim" => VolumeSource::PersistentVolumeClaim {
            claim_name: str_field("claimName")
                .ok_or_else(|| {
                    FieldError::new(format!("{path}.persistentVolumeClaim.claimName"), "missing")
                })?
                .to_owned(),
        },
        "hostPath" => VolumeSource::HostPath {
            path: str_field("path").unwrap_or_default().to_owned(),
        },
        "ephemeral" => VolumeSource::Ephemeral,
        other => VolumeSource::Other {
            kind: other.to_owned(),
        },
    };
    Ok(PodVolume {
        name: v.name.clone(),
        source,
    })
}

/// A quantity from a JSON tree (volume sources are read as one): a number
/// the parser made a float of is taken only if the float tells what was
/// written.
fn tree_quantity(v: &Value) -> Result<RawQuantity, String> {
    match v {
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .and_then(float_as_written)
            .map(RawQuantity)
            .ok_or_else(|| INEXACT_NUMBER.to_owned()),
        _ => RawQuantity::deserialize(v).map_err(|e| e.to_string()),
    }
}

/// The parts of a pod spec shared by pods and templates.
struct SpecParts {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    node_affinity: NodeAffinity,
    pod_affinity: PodAffinity,
}

fn spec_parts(path: &str, spec: &wire::PodSpec) -> Result<SpecParts, FieldError> {
    let affinity = spec.affinity.clone().unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .map(|a| NodeAffinity {
            required: a
                .required
                .map(|r| r.node_selector_terms)
                .unwrap_or_default(),
            preferred: a.preferred,
        })
        .unwrap_or_default();
    let weighted = |terms: Vec<wire::WeightedPodAffinityTerm>| {
        terms
            .into_iter()
            .map(|w| crate::snapshot::PodAffinityTerm {
                weight: Some(w.weight),
                ..w.pod_affinity_term
            })
            .collect()
    };
    let affine = affinity.pod_affinity.unwrap_or_default();
    let anti = affinity.pod_anti_affinity.unwrap_or_default();
    Ok(SpecParts {
        containers: containers(&format!("{path}.containers"), &spec.containers)?,
        init_containers: containers(&format!("{path}.initContainers"), &spec.init_containers)?,
        node_affinity,
        pod_affinity: PodAffinity {
            required: affine.required,
            preferred: weighted(affine.preferred),
            anti_required: anti.required,
            anti_preferred: weighted(anti.preferred),
        },
    })
}

fn termination(t: Option<wire::TerminatedState>) -> Option<Termination> {
    t.map(|t| Termination {
        reason: t.reason,
        exit_code: t.exit_code,
        finished_at: t.finished_at,
    })
}

fn pod(p: wire::Pod) -> Result<Pod, FieldError> {
    let name = required_name(&p.metadata)?;
    let parts = spec_parts("spec", &p.spec)?;
    let volumes = p
        .spec
        .volumes
        .iter()
        .enumerate()
        .map(|(i, v)| volume(&format!("spec.volumes[{i}]"), v))
        .collect::<Result<_, _>>()?;
    let mut overhead = resources("spec.overhead", &p.spec.overhead)?;
    overhead.pods = 0;
    Ok(Pod {
        namespace: namespace(&p.metadata),
        name,
        uid: p.metadata.uid.filter(|u| !u.is_empty()),
        controller: owner(&p.metadata.owner_references),
        owner: None,
        node_name: p.spec.node_name,
        phase: p.status.phase,
        priority: p.spec.priority.unwrap_or(0),
        priority_class_name: p.spec.priority_class_name,
        containers: parts.containers,
        init_containers: parts.init_containers,
        overhead,
        labels: p.metadata.labels,
        annotations: p.metadata.annotations,
        tolerations: p.spec.tolerations,
        node_selector: p.spec.node_selector,
        node_affinity: parts.node_affinity,
        pod_affinity: parts.pod_affinity,
        topology_spread: p.spec.topology_spread_constraints,
        volumes,
        container_statuses: p
            .status
            .container_statuses
            .into_iter()
            .map(|s| ContainerStatus {
                name: s.name,
                restart_count: s.restart_count,
                ready: s.ready,
                terminated: termination(s.state.terminated),
                waiting_reason: s.state.waiting.and_then(|w| w.reason),
                last_termination: termination(s.last_state.terminated),
            })
            .collect(),
        created_at: p.metadata.creation_timestamp,
    })
}

/// A count (an `i32`, as Kubernetes' `IntOrString` holds it) or a percentage.
fn int_or_percent(path: &str, v: &Option<IntOrString>) -> Result<Option<IntOrPercent>, FieldError> {
    let count = |text: &str| {
        text.parse::<i32>().map_err(|_| {
            let message = if wire::is_integer(text) {
                wire::count_out_of_range(text)
            } else {
                wire::not_int_or_percent(&format!("{:?}", text))
            };
            FieldError::new(path, message)
        })
    };
    Ok(match v {
        None => None,
        Some(IntOrString::Int(n)) => Some(IntOrPercent::Count(count(&n.to_string())?)),
        Some(IntOrString::Str(s)) => {
            Some(match s.strip_suffix('%') {
                Some(p) => IntOrPercent::Percent(p.parse().map_err(|_| {
                    FieldError::new(path, wire::not_int_or_percent(&format!("{s:?}")))
                })?),
                None => IntOrPercent::Count(count(s)?),
            })
        }
    })
}

fn count(path: &str, n: i64) -> Result<u32, FieldError> {
    u32::try_from(n).map_err(|_| FieldError::new(path, format!("{n} is not a valid count")))
}

fn namespace_object(n: wire::Namespace) -> Result<Namespace, FieldError> {
    Ok(Namespace {
        name: required_name(&n.metadata)?,
        labels: n.metadata.labels,
        annotations: n.metadata.annotations,
    })
}

fn service(s: wire::Service) -> Result<Service, FieldError> {
    let service_type = match s.spec.service_type.as_deref() {
        None | Some("ClusterIP") => ServiceType::ClusterIP,
        Some("NodePort") => ServiceType::NodePort,
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("ExternalName") => ServiceType::ExternalName,
        Some(other) => {
            return Err(FieldError::new(
                "spec.type",
                format!("{other:?} is not a Service type"),
            ))
        }
    };
    Ok(Service {
        namespace: namespace(&s.metadata),
        name: required_name(&s.metadata)?,
        service_type,
        selector: s.spec.selector.unwrap_or_default(),
        traffic_distribution: s.spec.traffic_distribution,
        annotations: s.metadata.annotations,
    })
}

fn autoscaler(h: wire::HorizontalPodAutoscaler) -> Result<HorizontalPodAutoscaler, FieldError> {
    if h.spec.scale_target_ref.name.is_empty() {
        return Err(FieldError::new("spec.scaleTargetRef.name", "empty name"));
    }
    Ok(HorizontalPodAutoscaler {
        namespace: namespace(&h.metadata),
        name: required_name(&h.metadata)?,
        target_kind: h.spec.scale_target_ref.kind,
        target_name: h.spec.scale_target_ref.name,
        min_replicas: count("spec.minReplicas", h.spec.min_replicas.unwrap_or(1))?,
        max_replicas: count("spec.maxReplicas", h.spec.max_replicas)?,
        metrics: hpa_metrics(h.spec.metrics, h.spec.target_cpu_utilization_percentage),
    })
}

/// v2's `spec.metrics`, or v1's CPU target; unknown metric types are kept
/// as [`HpaMetric::Other`] (they never make a request matter).
fn hpa_metrics(specs: Vec<wire::HpaMetricSpec>, v1_cpu_target: Option<i64>) -> Vec<HpaMetric> {
    let mut metrics: Vec<HpaMetric> = specs
        .into_iter()
        .map(
            |m| match (m.kind.as_str(), m.resource, m.container_resource) {
                ("Resource", Some(r), _) => HpaMetric::Resource { resource: r.name },
                ("ContainerResource", _, Some(r)) => HpaMetric::ContainerResource {
                    resource: r.name,
                    container: r.container.unwrap_or_default(),
                },
                _ => HpaMetric::Other { kind: m.kind },
            },
        )
        .collect();
    if metrics.is_empty() && v1_cpu_target.is_some() {
        metrics.push(HpaMetric::Resource {
            resource: "cpu".into(),
        });
    }
    metrics
}

fn pdb(b: wire::PodDisruptionBudget) -> Result<PodDisruptionBudget, FieldError> {
    Ok(PodDisruptionBudget {
        namespace: namespace(&b.metadata),
        name: required_name(&b.metadata)?,
        selector: b.spec.selector,
        min_available: int_or_percent("spec.minAvailable", &b.spec.min_available)?,
        max_unavailable: int_or_percent("spec.maxUnavailable", &b.spec.max_unavailable)?,
        disruptions_allowed: count("status.disruptionsAllowed", b.status.disruptions_allowed)?,
        current_healthy: count("status.currentHealthy", b.status.current_healthy)?,
        desired_healthy: count("status.desiredHealthy", b.status.desired_healthy)?,
        expected_pods: count("status.expectedPods", b.status.expected_pods)?,
        labels: b.metadata.labels,
    })
}

fn storage(path: &str, map: &ResourceMap) -> Result<Option<u64>, FieldError> {
    map.get("storage")
        .map(|raw| quantity(path, "storage", raw, parse_units))
        .transpose()
}

fn pv(v: wire::PersistentVolume) -> Result<PersistentVolume, FieldError> {
    let (driver, handle) = match (&v.spec.csi, &v.spec.aws_elastic_block_store) {
        (Some(csi), _) => (Some(csi.driver.clone()), Some(csi.volume_handle.clone())),
        (None, Some(ebs)) => (
            Some("kubernetes.io/aws-ebs".to_owned()),
            Some(ebs.volume_id.clone()),
        ),
        (None, None) => (None, None),
    };
    let affinity_zone = v
        .spec
        .node_affinity
        .iter()
        .flat_map(|a| a.required.iter())
        .flat_map(|r| r.node_selector_terms.iter())
        .flat_map(|t| t.match_expressions.iter())
        .find(|r| VOLUME_ZONE_KEYS.contains(&r.key.as_str()) && r.operator == SelectorOperator::In)
        .and_then(|r| r.values.first().cloned());
    let label_zone = VOLUME_ZONE_KEYS[1..]
        .iter()
        .find_map(|k| v.metadata.labels.get(*k).cloned());
    Ok(PersistentVolume {
        name: required_name(&v.metadata)?,
        driver,
        volume_handle: handle,
        storage_class: v.spec.storage_class_name,
        capacity_bytes: storage("spec.capacity", &v.spec.capacity)?.unwrap_or(0),
        zone: affinity_zone.or(label_zone),
        phase: v.status.phase,
        claim_ref: v.spec.claim_ref.map(|c| ObjectRef {
            namespace: c.namespace,
            name: c.name,
        }),
        reclaim_policy: v.spec.persistent_volume_reclaim_policy.unwrap_or_default(),
        labels: v.metadata.labels,
        annotations: v.metadata.annotations,
        created_at: v.metadata.creation_timestamp,
    })
}

fn pvc(c: wire::PersistentVolumeClaim) -> Result<PersistentVolumeClaim, FieldError> {
    Ok(PersistentVolumeClaim {
        namespace: namespace(&c.metadata),
        name: required_name(&c.metadata)?,
        volume_name: c.spec.volume_name,
        storage_class: c.spec.storage_class_name,
        requested_bytes: storage("spec.resources.requests", &c.spec.resources.requests)?
            .unwrap_or(0),
        capacity_bytes: storage("status.capacity", &c.status.capacity)?,
        phase: c.status.phase,
        labels: c.metadata.labels,
        created_at: c.metadata.creation_timestamp,
    })
}

fn template(path: &str, t: &wire::PodTemplateSpec) -> Result<PodTemplate, FieldError> {
    let parts = spec_parts(&format!("{path}.spec"), &t.spec)?;
    Ok(PodTemplate {
        labels: t.metadata.labels.clone(),
        annotations: t.metadata.annotations.clone(),
        containers: parts.containers,
        init_containers: parts.init_containers,
        node_selector: t.spec.node_selector.clone(),
        node_affinity: parts.node_affinity,
        tolerations: t.spec.tolerations.clone(),
        priority_class_name: t.spec.priority_class_name.clone(),
    })
}

fn workload(kind: WorkloadKind, w: wire::Workload) -> Result<Workload, FieldError> {
    let spec = &w.spec;
    let (template_path, template_spec, replicas) = match kind {
        WorkloadKind::CronJob => {
            let job = spec.job_template.as_ref().map(|j| &j.spec);
            (
                "spec.jobTemplate.spec.template",
                job.and_then(|j| j.template.as_ref()),
                None,
            )
        }
        WorkloadKind::Job => ("spec.template", spec.template.as_ref(), spec.parallelism),
        WorkloadKind::DaemonSet => ("spec.template", spec.template.as_ref(), None),
        _ => ("spec.template", spec.template.as_ref(), spec.replicas),
    };
    let replicas_path = if kind == WorkloadKind::Job {
        "spec.parallelism"
    } else {
        "spec.replicas"
    };
    let (ready_path, ready) = match kind {
        WorkloadKind::DaemonSet => ("status.numberReady", w.status.number_ready),
        WorkloadKind::Job | WorkloadKind::CronJob => ("status", None),
        _ => ("status.readyReplicas", w.status.ready_replicas),
    };
    Ok(Workload {
        kind,
        namespace: namespace(&w.metadata),
        name: required_name(&w.metadata)?,
        owner: owner(&w.metadata.owner_references),
        replicas: replicas.map(|r| count(replicas_path, r)).transpose()?,
        ready_replicas: ready.map(|r| count(ready_path, r)).transpose()?,
        selector: spec.selector.clone().unwrap_or_default(),
        template: template_spec
            .map(|t| template(template_path, t))
            .transpose()?
            .unwrap_or_default(),
        labels: w.metadata.labels,
        annotations: w.metadata.annotations,
        // Only a CronJob has a schedule; one on another kind is not Kubernetes'.
        schedule: spec
            .schedule
            .clone()
            .filter(|_| kind == WorkloadKind::CronJob),
        suspend: spec.suspend.unwrap_or(false),
        created_at: w.metadata.creation_timestamp,
    })
}
