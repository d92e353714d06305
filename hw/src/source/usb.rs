//! Finding serial ports, and which USB device each belongs to, from Linux's sysfs (no libudev
//! needed). On other platforms ports are listed by the `serialport` crate without USB ids.

use std::path::{Path, PathBuf};

/// A serial port the machine can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub path: PathBuf,
    /// USB vendor and product id, when the port is a USB device.
    pub usb: Option<(u16, u16)>,
    /// The USB product or manufacturer string, when known.
    pub product: Option<String>,
}

fn read_hex(path: &Path) -> Option<u16> {
    u16::from_str_radix(std::fs::read_to_string(path).ok()?.trim(), 16).ok()
}

/// Walks up from a tty's device directory to the USB device that owns it.
fn usb_of(device: &Path) -> Option<((u16, u16), Option<String>)> {
    let mut dir = std::fs::canonicalize(device).ok()?;
    for _ in 0..6 {
        if let (Some(v), Some(p)) = (
            read_hex(&dir.join("idVendor")),
            read_hex(&dir.join("idProduct")),
        ) {
            let product = std::fs::read_to_string(dir.join("product"))
                .or_else(|_| std::fs::read_to_string(dir.join("manufacturer")))
                .ok()
                .map(|s| s.trim().to_owned());
            return Some(((v, p), product));
        }
        if !dir.pop() {
            break;
        }
    }
    None
}

/// Every serial port under `sysfs_tty` (normally `/sys/class/tty`) that has a device behind it,
/// mapped to `dev` (normally `/dev`).
pub fn ports_in(sysfs_tty: &Path, dev: &Path) -> Vec<PortInfo> {
    let Ok(entries) = std::fs::read_dir(sysfs_tty) else {
        return Vec::new();
    };
    let mut ports: Vec<PortInfo> = entries
        .flatten()
        .filter(|e| e.path().join("device").exists())
        .map(|e| {
            let name = e.file_name();
            let found = usb_of(&e.path().join("device"));
            PortInfo {
                path: dev.join(&name),
                usb: found.as_ref().map(|(ids, _)| *ids),
                product: found.and_then(|(_, p)| p),
            }
        })
        .collect();
    ports.sort_by(|a, b| a.path.cmp(&b.path));
    ports
}

/// The serial ports this machine can see.
pub fn list_ports() -> Vec<PortInfo> {
    if cfg!(target_os = "linux") {
        return ports_in(Path::new("/sys/class/tty"), Path::new("/dev"));
    }
    serialport::available_ports()
        .unwrap_or_default()
        .into_iter()
        .map(|p| PortInfo {
            path: PathBuf::from(p.port_name),
            usb: None,
            product: None,
        })
        .collect()
}

/// The first port whose USB vendor and product id match.
pub fn find_usb(ports: &[PortInfo], vid: u16, pid: u16) -> Option<PathBuf> {
    ports
        .iter()
        .find(|p| p.usb == Some((vid, pid)))
        .map(|p| p.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A miniature sysfs: ttyACM0 under a USB device 0c2e:0b61, ttyS0 with a platform device.
    #[test]
    fn finds_usb_ids_in_a_sysfs_tree() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = root.path();
        let usb = r.join("devices/pci0/usb1/1-1");
        let iface = usb.join("1-1:1.0/tty/ttyACM0");
        std::fs::create_dir_all(&iface).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(usb.join("idVendor"), "0c2e\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(usb.join("idProduct"), "0b61\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(usb.join("product"), "Honeywell Scanner\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let serial = r.join("devices/platform/serial8250/tty/ttyS0");
        std::fs::create_dir_all(&serial).unwrap_or_else(|e| panic!("{e}"));
        let class = r.join("class/tty");
        for (name, target) in [
            ("ttyACM0", iface.join("..").join("..")),
            ("ttyS0", serial.clone()),
        ] {
            let entry = class.join(name);
            std::fs::create_dir_all(&entry).unwrap_or_else(|e| panic!("{e}"));
            std::os::unix::fs::symlink(&target, entry.join("device"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::create_dir_all(class.join("tty0")).unwrap_or_else(|e| panic!("{e}")); // virtual: no device
        let ports = ports_in(&class, Path::new("/dev"));
        assert_eq!(ports.len(), 2, "{ports:?}");
        assert_eq!(ports[0].path, PathBuf::from("/dev/ttyACM0"));
        assert_eq!(ports[0].usb, Some((0x0c2e, 0x0b61)));
        assert_eq!(ports[0].product.as_deref(), Some("Honeywell Scanner"));
        assert_eq!(ports[1].usb, None);
        assert_eq!(
            find_usb(&ports, 0x0c2e, 0x0b61),
            Some(PathBuf::from("/dev/ttyACM0"))
        );
        assert_eq!(find_usb(&ports, 1, 2), None);
    }
}
