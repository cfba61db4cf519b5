//! The control port: the virtio-serial port named `rukt.ctl`, which shows
//! up under `/sys/class/virtio-ports` a moment after `virtio_console` has
//! been loaded and has talked to the device.

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use rukt_kvm_init::proto::PORT_NAME;

const PORTS: &str = "/sys/class/virtio-ports";
/// How long the port may take to appear.
const WAIT: Duration = Duration::from_secs(20);

/// Opens the control port, waiting for it to appear.
pub fn open() -> io::Result<File> {
    let start = Instant::now();
    loop {
        if let Some(dev) = find()? {
            // The device node appears in devtmpfs right after the class entry.
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&dev)
            {
                Ok(f) => return Ok(f),
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                Err(_) => {}
            }
        }
        if start.elapsed() > WAIT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no virtio port named {PORT_NAME}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `/dev/vportNpM` of the port named [`PORT_NAME`], if it is there yet.
fn find() -> io::Result<Option<String>> {
    let dir = match std::fs::read_dir(PORTS) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in dir {
        let entry = entry?;
        let name = std::fs::read_to_string(entry.path().join("name")).unwrap_or_default();
        if name.trim() == PORT_NAME {
            return Ok(Some(format!(
                "/dev/{}",
                entry.file_name().to_string_lossy()
            )));
        }
    }
    Ok(None)
}
