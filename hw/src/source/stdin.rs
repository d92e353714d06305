//! Standard input as a scanner, one scan per line: `tenpo-agent run --scanner stdin` on a bare
//! machine can be fed by typing.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use super::{ScannerConfig, Sink, SourceEvent, Stop};
use crate::framing::{FrameEvent, Framer, FramerConfig, Terminator};

/// Reads standard input until end of input or `stop`.
pub fn run(config: &ScannerConfig, sink: &dyn Sink, stop: &Stop) {
    let name: Arc<str> = config.name.as_str().into();
    let mut framer = Framer::new(FramerConfig {
        terminator: Terminator::Lf,
        ..config.framer()
    });
    sink.deliver(SourceEvent::Connected {
        scanner: name.clone(),
        detail: "standard input: type a code and press Enter".into(),
    });
    let mut input = std::io::stdin().lock();
    let mut buf = [0u8; 512];
    while !stop.is_stopped() {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let at = Instant::now();
                for event in framer.push(&buf[..n]) {
                    let event = match event {
                        FrameEvent::Frame(frame) => SourceEvent::Frame {
                            scanner: name.clone(),
                            frame,
                            at,
                        },
                        FrameEvent::Overlong { len } => SourceEvent::Dropped {
                            scanner: name.clone(),
                            what: format!("a line of {len} bytes"),
                        },
                        FrameEvent::Noise { bytes } => SourceEvent::Dropped {
                            scanner: name.clone(),
                            what: format!("{bytes} noise bytes"),
                        },
                    };
                    sink.deliver(event);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                sink.deliver(SourceEvent::Disconnected {
                    scanner: name.clone(),
                    error: format!("standard input failed: {e}"),
                });
                return;
            }
        }
    }
    sink.deliver(SourceEvent::Disconnected {
        scanner: name,
        error: "end of standard input".into(),
    });
}
