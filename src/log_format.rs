//! The JSON log line, written straight to the line buffer.
//!
//! `serve` logs one line per request, and tracing-subscriber's JSON formatter cost about 21,000
//! instructions a line (it runs every field through serde's map serializer, formats timestamps
//! through an intermediate `String` and re-validates its own output as UTF-8): about a tenth of
//! a whole lookup (docs/PERFORMANCE.md). This formatter writes the same line, byte for byte —
//! `{"timestamp":…,"level":…,"fields":{…},"target":…}` — with no intermediate values. Events
//! inside a span (scimd opens none today) are handed to the stock formatter, so nothing is lost
//! if one is added.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Json, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// The `serve` JSON line format (see the module docs).
pub struct JsonLine {
    /// For events inside spans: the stock formatter's `span`/`spans` keys.
    stock: format::Format<Json>,
}

impl JsonLine {
    pub fn new() -> JsonLine {
        JsonLine {
            stock: format::Format::default().json(),
        }
    }
}

impl Default for JsonLine {
    fn default() -> Self {
        JsonLine::new()
    }
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let in_span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current())
            .is_some();
        if in_span {
            return self.stock.format_event(ctx, writer, event);
        }
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, time::OffsetDateTime::now_utc())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_str("\",\"fields\":{")?;
        let mut fields = Fields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("},\"target\":")?;
        write_json_str(&mut writer, meta.target())?;
        writer.write_str("}\n")
    }
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber's `SystemTime` timer writes it.
fn write_timestamp(w: &mut impl fmt::Write, t: time::OffsetDateTime) -> fmt::Result {
    // Digit by digit: `write!` with six width specifiers cost more than the rest of the line.
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, t.year().clamp(0, 9999) as u32);
    put(5, 2, u32::from(u8::from(t.month())));
    put(8, 2, u32::from(t.day()));
    put(11, 2, u32::from(t.hour()));
    put(14, 2, u32::from(t.minute()));
    put(17, 2, u32::from(t.second()));
    put(20, 6, t.microsecond());
    w.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
}

/// Writes each field as `"name":value`, the way tracing-serde's map visitor serializes it.
struct Fields<'w, 'a> {
    out: &'w mut Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(',')?;
        }
        write_json_str(self.out, field.name())?;
        self.out.write_char(':')
    }

    fn put(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, |w| write_json_str(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |w| write!(w, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, |w| write!(w, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // serde_json's float text (shortest round-trip form, `null` when not finite), so the
        // line is what the stock formatter wrote.
        self.put(field, |w| {
            let mut buf = [0u8; 40];
            let mut rest = &mut buf[..];
            serde_json::to_writer(&mut rest, &value).map_err(|_| fmt::Error)?;
            let n = 40 - rest.len();
            w.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, |w| {
            w.write_char('"')?;
            write!(Escaping(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// A JSON string literal of `s`, escaped as serde_json escapes it.
fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaping(w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what passes through it for the inside of a JSON string literal: `"`, `\` and the
/// control characters below 0x20, with serde_json's short forms where it has them.
struct Escaping<'w, W: fmt::Write>(&'w mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
            return self.0.write_str(s);
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &str = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0x00..=0x1f => "",
                _ => continue,
            };
            // Every byte matched above is ASCII, so `i` is a char boundary.
            self.0.write_str(&s[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let samples = [
            "",
            "plain",
            "quote \" and backslash \\",
            "new\nline\ttab\rcr",
            "\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}\u{7f}",
            "ünïcödé ✓ and 𝄞",
            "ends with \\",
        ];
        for s in samples {
            let mut ours = String::new();
            write_json_str(&mut ours, s).unwrap();
            assert_eq!(ours, serde_json::to_string(s).unwrap(), "for {s:?}");
        }
    }

    #[test]
    fn the_timestamp_has_microseconds_and_a_z() {
        let t = time::macros::datetime!(2026-12-01 09:05:01.000042 UTC);
        let mut out = String::new();
        write_timestamp(&mut out, t).unwrap();
        assert_eq!(out, "2026-12-01T09:05:01.000042Z");
    }

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    fn emit_sample() {
        let who = "entra-prod";
        let method = http::Method::PATCH;
        tracing::info!(
            request_id = "0192f3",
            token = %who,
            client_ip = "10.0.0.7",
            %method,
            path = "/scim/v2/Users/a\"b",
            status = 200u16,
            latency_ms = 1.25f64,
            tiny = 1e-7f64,
            whole = 3.0f64,
            negative = -4i64,
            ok = true,
            why = ?Some("debug \"text\"\n"),
            "request"
        );
        tracing::warn!("no fields but the message: 100% \\ done");
    }

    /// Drops the `"timestamp":"…",` entry, the one part two runs cannot share.
    fn without_timestamps(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| {
                let start = line.find("\"timestamp\":\"").expect("a timestamp");
                let end = line[start + 13..].find('"').unwrap() + start + 13;
                format!("{}{}", &line[..start], &line[end + 2..])
            })
            .collect()
    }

    #[test]
    fn lines_match_tracing_subscribers_json_formatter() {
        let ours = Sink::default();
        let stock = Sink::default();
        let sub = tracing_subscriber::fmt()
            .event_format(JsonLine::new())
            .with_writer(ours.clone())
            .finish();
        tracing::subscriber::with_default(sub, emit_sample);
        let sub = tracing_subscriber::fmt()
            .json()
            .with_writer(stock.clone())
            .finish();
        tracing::subscriber::with_default(sub, emit_sample);

        let ours = String::from_utf8(ours.0.lock().unwrap().clone()).unwrap();
        let stock = String::from_utf8(stock.0.lock().unwrap().clone()).unwrap();
        assert_eq!(ours.lines().count(), 2, "{ours}");
        assert_eq!(without_timestamps(&ours), without_timestamps(&stock));
        for line in ours.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        }
    }

    #[test]
    fn events_in_a_span_keep_the_stock_span_keys() {
        let ours = Sink::default();
        let sub = tracing_subscriber::fmt()
            .fmt_fields(format::JsonFields::new())
            .event_format(JsonLine::new())
            .with_writer(ours.clone())
            .finish();
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!("reload", generation = 3);
            let _entered = span.enter();
            tracing::info!(changed = 2, "reloaded");
        });
        let text = String::from_utf8(ours.0.lock().unwrap().clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["span"]["name"], "reload");
        assert_eq!(v["fields"]["changed"], 2);
    }
}
