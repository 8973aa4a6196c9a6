//! Serial ports: a terminal device opened non-blocking, set raw with the
//! asked speed and framing through termios, and read back with tcgetattr;
//! modem lines through TIOCMGET/TIOCMBIS/TIOCMBIC; a break with
//! tcsendbreak. The worker reads and writes it in its own readiness loop
//! like a stream (see `worker::Io`), so the composer, responders,
//! checksums, scripts, the log and captures work on it unchanged.
//!
//! termios through `nix` (already a dependency, with its `term` feature)
//! rather than the `serialport` crate: the port must be a non-blocking fd
//! in our mio loop, not a blocking reader with its own timeout, and
//! `serialport` would build a second, older `nix` beside ours.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::termios::{self, ControlFlags, InputFlags, SetArg};

use super::error::OpError;
use super::options::OptionReport;

/// Parity bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Flow control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Flow {
    /// None.
    #[default]
    None,
    /// RTS/CTS (CRTSCTS).
    Hardware,
    /// XON/XOFF (IXON, IXOFF).
    Software,
}

/// A serial port and how to set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialSpec {
    /// The device (`/dev/ttyUSB0`, or a link to one such as socat's).
    pub path: PathBuf,
    /// Bits per second (one of [`BAUDS`]).
    pub baud: u32,
    /// 5 to 8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// 1 or 2.
    pub stop_bits: u8,
    /// Flow control.
    pub flow: Flow,
}

/// The speeds termios sets by name, with their constants.
const SPEEDS: &[(u32, libc::speed_t)] = &[
    (50, libc::B50),
    (75, libc::B75),
    (110, libc::B110),
    (134, libc::B134),
    (150, libc::B150),
    (200, libc::B200),
    (300, libc::B300),
    (600, libc::B600),
    (1200, libc::B1200),
    (1800, libc::B1800),
    (2400, libc::B2400),
    (4800, libc::B4800),
    (9600, libc::B9600),
    (19200, libc::B19200),
    (38400, libc::B38400),
    (57600, libc::B57600),
    (115200, libc::B115200),
    (230400, libc::B230400),
    (460800, libc::B460800),
    (500000, libc::B500000),
    (576000, libc::B576000),
    (921600, libc::B921600),
    (1000000, libc::B1000000),
    (1152000, libc::B1152000),
    (1500000, libc::B1500000),
    (2000000, libc::B2000000),
    (2500000, libc::B2500000),
    (3000000, libc::B3000000),
    (3500000, libc::B3500000),
    (4000000, libc::B4000000),
];

/// The speeds a form offers first.
pub const COMMON_BAUDS: &[u32] = &[
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
];

/// Every speed Sockscope can set.
pub fn bauds() -> impl Iterator<Item = u32> {
    SPEEDS.iter().map(|(b, _)| *b)
}

impl SerialSpec {
    /// A port at 115200 8N1, no flow control.
    pub fn new(path: impl Into<PathBuf>) -> SerialSpec {
        SerialSpec {
            path: path.into(),
            baud: 115_200,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow: Flow::None,
        }
    }

    /// Whether the settings are ones termios can set, and if not, why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.path.as_os_str().is_empty() {
            return Err(("path", "give the port's device, e.g. /dev/ttyUSB0".into()));
        }
        if !self.path.is_absolute() {
            return Err((
                "path",
                format!(
                    "{} is not an absolute path; give the device, e.g. /dev/ttyUSB0",
                    self.path.display()
                ),
            ));
        }
        if !SPEEDS.iter().any(|(b, _)| *b == self.baud) {
            return Err((
                "baud",
                format!(
                    "{} is not a speed termios sets; pick one of {}",
                    self.baud,
                    COMMON_BAUDS
                        .iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !(5..=8).contains(&self.data_bits) {
            return Err(("data_bits", "data bits go from 5 to 8".into()));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(("stop_bits", "stop bits are 1 or 2".into()));
        }
        Ok(())
    }

    /// `115200 8N1`, as terminals write it.
    pub fn framing(&self) -> String {
        format!(
            "{} {}{}{}",
            self.baud,
            self.data_bits,
            match self.parity {
                Parity::None => 'N',
                Parity::Odd => 'O',
                Parity::Even => 'E',
            },
            self.stop_bits
        )
    }
}

/// What the modem lines say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ModemLines {
    /// Data terminal ready (ours).
    pub dtr: bool,
    /// Request to send (ours).
    pub rts: bool,
    /// Clear to send (theirs).
    pub cts: bool,
    /// Data set ready (theirs).
    pub dsr: bool,
    /// Ring indicator (theirs).
    pub ri: bool,
    /// Carrier detect (theirs).
    pub cd: bool,
}

/// An open serial port.
pub struct Tty {
    file: File,
    /// The device it resolved to (`/dev/pts/3` behind socat's link).
    pub device: PathBuf,
}

impl Tty {
    /// Opens and sets up the port: non-blocking, no controlling terminal,
    /// a character device only, raw, then the spec's speed and framing.
    pub fn open(spec: &SerialSpec) -> Result<Tty, OpError> {
        let op = format!("open {}", spec.path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(&spec.path)
            .map_err(|e| {
                let err = OpError::io(&op, &e);
                match e.raw_os_error() {
                    Some(libc::ENOENT) => err.with_hint(
                        "no device at that path; plug the adapter in, or for a test start socat (see the README)",
                    ),
                    Some(libc::EACCES) => err.with_hint(
                        "the device belongs to the dialout group; add yourself (`sudo usermod -aG dialout $USER`) and log in again",
                    ),
                    Some(libc::EBUSY) => err.with_hint("another program holds the port open"),
                    _ => err,
                }
            })?;
        let meta = file.metadata().map_err(|e| OpError::io(&op, &e))?;
        if !meta.file_type().is_char_device() {
            return Err(OpError::plain(
                &op,
                "not a terminal device (a serial port is a character device such as /dev/ttyUSB0)",
            ));
        }
        // Exclusive, as terminal programs take a port: a second opener gets
        // EBUSY instead of stealing half the bytes (root is exempt).
        // SAFETY: TIOCEXCL takes no argument.
        unsafe { libc::ioctl(file.as_raw_fd(), libc::TIOCEXCL) };
        let mut t = termios::tcgetattr(file.as_fd()).map_err(|e| {
            OpError::io(format!("tcgetattr {}", spec.path.display()), &e.into())
                .with_hint("the device is not a terminal")
        })?;
        termios::cfmakeraw(&mut t);
        let mut raw: libc::termios = t.into();
        let speed = SPEEDS
            .iter()
            .find(|(b, _)| *b == spec.baud)
            .map(|(_, s)| *s)
            .unwrap_or(libc::B115200);
        // SAFETY: `raw` is a valid termios; these only set its speed fields.
        unsafe {
            libc::cfsetispeed(&mut raw, speed);
            libc::cfsetospeed(&mut raw, speed);
        }
        let mut t = termios::Termios::from(raw);
        let c = &mut t.control_flags;
        c.remove(ControlFlags::CSIZE | ControlFlags::PARENB | ControlFlags::PARODD);
        c.remove(ControlFlags::CSTOPB | ControlFlags::CRTSCTS);
        c.insert(ControlFlags::CREAD | ControlFlags::CLOCAL);
        c.insert(match spec.data_bits {
            5 => ControlFlags::CS5,
            6 => ControlFlags::CS6,
            7 => ControlFlags::CS7,
            _ => ControlFlags::CS8,
        });
        match spec.parity {
            Parity::None => {}
            Parity::Odd => c.insert(ControlFlags::PARENB | ControlFlags::PARODD),
            Parity::Even => c.insert(ControlFlags::PARENB),
        }
        if spec.stop_bits == 2 {
            c.insert(ControlFlags::CSTOPB);
        }
        t.input_flags.remove(InputFlags::IXON | InputFlags::IXOFF);
        match spec.flow {
            Flow::None => {}
            Flow::Hardware => t.control_flags.insert(ControlFlags::CRTSCTS),
            Flow::Software => t.input_flags.insert(InputFlags::IXON | InputFlags::IXOFF),
        }
        termios::tcsetattr(file.as_fd(), SetArg::TCSANOW, &t)
            .map_err(|e| OpError::io(format!("tcsetattr {}", spec.path.display()), &e.into()))?;
        // What arrived before we set the port up was read at another speed.
        let _ = termios::tcflush(file.as_fd(), termios::FlushArg::TCIFLUSH);
        let device = std::fs::canonicalize(&spec.path).unwrap_or_else(|_| spec.path.clone());
        Ok(Tty { file, device })
    }

    /// The descriptor, for the poller.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// One read(2).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &self.file, buf)
    }

    /// One read(2) into spare capacity; returns how many bytes it filled.
    pub fn read_uninit(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        // SAFETY: read(2) writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// One write(2).
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &self.file, buf)
    }

    /// The settings as tcgetattr reports them, beside what was asked.
    pub fn settings(&self, spec: &SerialSpec) -> Vec<OptionReport> {
        let got = termios::tcgetattr(self.file.as_fd());
        let row = |name: &'static str, requested: String, actual: Option<String>| OptionReport {
            name,
            requested: Some(requested),
            actual: match (&got, actual) {
                (Ok(_), Some(a)) => Ok(a),
                (Ok(_), None) => Err("unknown".into()),
                (Err(e), _) => Err(OpError::io("tcgetattr", &(*e).into()).to_string()),
            },
        };
        let (speed, bits, parity, stop, flow) = match &got {
            Ok(t) => {
                let raw: libc::termios = t.clone().into();
                // SAFETY: reads the speed field of a valid termios.
                let s = unsafe { libc::cfgetospeed(&raw) };
                let c = t.control_flags;
                let bits = match c & ControlFlags::CSIZE {
                    x if x == ControlFlags::CS5 => 5,
                    x if x == ControlFlags::CS6 => 6,
                    x if x == ControlFlags::CS7 => 7,
                    _ => 8,
                };
                let parity = if !c.contains(ControlFlags::PARENB) {
                    "none"
                } else if c.contains(ControlFlags::PARODD) {
                    "odd"
                } else {
                    "even"
                };
                let flow = if c.contains(ControlFlags::CRTSCTS) {
                    "hardware"
                } else if t.input_flags.contains(InputFlags::IXON) {
                    "software"
                } else {
                    "none"
                };
                (
                    SPEEDS
                        .iter()
                        .find(|(_, k)| *k == s)
                        .map(|(b, _)| b.to_string()),
                    Some(bits.to_string()),
                    Some(parity.to_string()),
                    Some(
                        if c.contains(ControlFlags::CSTOPB) {
                            "2"
                        } else {
                            "1"
                        }
                        .to_string(),
                    ),
                    Some(flow.to_string()),
                )
            }
            Err(_) => (None, None, None, None, None),
        };
        vec![
            row("baud", spec.baud.to_string(), speed),
            row("data_bits", spec.data_bits.to_string(), bits),
            row("parity", parity_word(spec.parity).into(), parity),
            row("stop_bits", spec.stop_bits.to_string(), stop),
            row("flow", flow_word(spec.flow).into(), flow),
        ]
    }

    /// Reads the modem lines (TIOCMGET). A pseudo-terminal has none.
    pub fn modem(&self) -> Result<ModemLines, OpError> {
        let mut bits: libc::c_int = 0;
        // SAFETY: TIOCMGET writes one int through the pointer.
        let r = unsafe { libc::ioctl(self.fd(), libc::TIOCMGET, &mut bits) };
        if r < 0 {
            return Err(modem_error("ioctl TIOCMGET", io::Error::last_os_error()));
        }
        Ok(ModemLines {
            dtr: bits & libc::TIOCM_DTR != 0,
            rts: bits & libc::TIOCM_RTS != 0,
            cts: bits & libc::TIOCM_CTS != 0,
            dsr: bits & libc::TIOCM_DSR != 0,
            ri: bits & libc::TIOCM_RI != 0,
            cd: bits & libc::TIOCM_CD != 0,
        })
    }

    /// Raises or drops DTR and RTS (TIOCMBIS / TIOCMBIC).
    pub fn set_lines(&self, dtr: Option<bool>, rts: Option<bool>) -> Result<(), OpError> {
        for (want, bit, name) in [(dtr, libc::TIOCM_DTR, "DTR"), (rts, libc::TIOCM_RTS, "RTS")] {
            let Some(on) = want else { continue };
            let req = if on { libc::TIOCMBIS } else { libc::TIOCMBIC };
            // SAFETY: TIOCMBIS/TIOCMBIC read one int through the pointer.
            let r = unsafe { libc::ioctl(self.fd(), req, &bit) };
            if r < 0 {
                let op = format!("ioctl {} {name}", if on { "TIOCMBIS" } else { "TIOCMBIC" });
                return Err(modem_error(&op, io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// Sends a break (the line held low for 0.25 to 0.5 s).
    pub fn send_break(&self) -> Result<(), OpError> {
        termios::tcsendbreak(self.file.as_fd(), 0)
            .map_err(|e| OpError::io("tcsendbreak", &e.into()))
    }
}

fn modem_error(op: &str, e: io::Error) -> OpError {
    let err = OpError::io(op, &e);
    if e.raw_os_error() == Some(libc::ENOTTY) || e.raw_os_error() == Some(libc::EINVAL) {
        err.with_hint(
            "this device has no modem lines (a pseudo-terminal, such as socat's, has none)",
        )
    } else {
        err
    }
}

fn parity_word(p: Parity) -> &'static str {
    match p {
        Parity::None => "none",
        Parity::Odd => "odd",
        Parity::Even => "even",
    }
}

fn flow_word(f: Flow) -> &'static str {
    match f {
        Flow::None => "none",
        Flow::Hardware => "hardware",
        Flow::Software => "software",
    }
}

/// A serial port the machine has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// `/dev/ttyUSB0`.
    pub path: PathBuf,
    /// The kernel driver (`ftdi_sio`, `cdc_acm`, `serial8250`).
    pub driver: Option<String>,
    /// USB vendor and product ids, `0403:6001`.
    pub usb_id: Option<String>,
    /// USB manufacturer and product names, as the device gives them.
    pub usb_name: Option<String>,
}

impl PortInfo {
    /// One line for a list: path, then what is known of the device.
    pub fn describe(&self) -> String {
        let mut s = self.path.display().to_string();
        for part in [&self.usb_name, &self.usb_id, &self.driver]
            .into_iter()
            .flatten()
        {
            s.push_str(" · ");
            s.push_str(part);
        }
        s
    }
}

/// The machine's serial ports, from sysfs (no libudev needed): every
/// /sys/class/tty entry backed by a device, less the slots with no UART
/// behind them.
pub fn ports() -> Vec<PortInfo> {
    ports_in(Path::new("/sys/class/tty"))
}

fn ports_in(class: &Path) -> Vec<PortInfo> {
    let Ok(dir) = std::fs::read_dir(class) else {
        return Vec::new();
    };
    // sysfs attributes are regular files of at most a page (and say so in
    // st_size); read with the one capped, non-blocking reader, and keep
    // control characters out of what the form shows.
    let small = |p: PathBuf| -> Option<String> {
        let bytes = crate::fsutil::read_capped(&p, 4096, "a sysfs attribute").ok()?;
        let s = String::from_utf8_lossy(&bytes);
        let s = s.trim();
        (!s.is_empty()).then(|| s.chars().filter(|c| !c.is_control()).collect())
    };
    let mut out: Vec<PortInfo> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let entry = e.path();
            let device = std::fs::canonicalize(entry.join("device")).ok()?;
            let driver = std::fs::read_link(device.join("driver"))
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()));
            // Serial-core ports say their UART type; 0 is an empty slot
            // (the 8250 driver makes four whether or not a UART is there).
            if small(entry.join("type")).as_deref() == Some("0") {
                return None;
            }
            // The USB device is a few directories up from the interface.
            let usb = device
                .ancestors()
                .take(5)
                .find(|d| d.join("idVendor").exists())
                .map(Path::to_path_buf);
            let (usb_id, usb_name) = match usb {
                Some(u) => (
                    match (small(u.join("idVendor")), small(u.join("idProduct"))) {
                        (Some(v), Some(p)) => Some(format!("{v}:{p}")),
                        _ => None,
                    },
                    match (small(u.join("manufacturer")), small(u.join("product"))) {
                        (Some(m), Some(p)) => Some(format!("{m} {p}")),
                        (m, p) => m.or(p),
                    },
                ),
                None => (None, None),
            };
            Some(PortInfo {
                path: PathBuf::from("/dev").join(name),
                driver,
                usb_id,
                usb_name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_with_reasons() {
        let mut s = SerialSpec::new("/dev/ttyUSB0");
        assert!(s.check().is_ok());
        assert_eq!(s.framing(), "115200 8N1");
        s.baud = 12345;
        assert_eq!(s.check().unwrap_err().0, "baud");
        s.baud = 9600;
        s.data_bits = 9;
        assert_eq!(s.check().unwrap_err().0, "data_bits");
        s.data_bits = 7;
        s.stop_bits = 3;
        assert_eq!(s.check().unwrap_err().0, "stop_bits");
        s.stop_bits = 2;
        s.path = PathBuf::from("ttyUSB0");
        assert_eq!(s.check().unwrap_err().0, "path");
    }

    #[test]
    fn a_file_that_is_not_a_terminal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plain");
        std::fs::write(&f, b"x").unwrap();
        let e = Tty::open(&SerialSpec::new(&f)).err().unwrap();
        assert!(e.to_string().contains("not a terminal device"), "{e}");
        let e = Tty::open(&SerialSpec::new("/dev/null")).err().unwrap();
        assert!(e.to_string().contains("tcgetattr"), "{e}");
    }

    #[test]
    fn ports_are_listed_from_sysfs_with_usb_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let usb = root.join("devices/usb1/1-1");
        let iface = usb.join("1-1:1.0/ttyUSB0");
        std::fs::create_dir_all(&iface).unwrap();
        std::fs::create_dir_all(root.join("drivers/ftdi_sio")).unwrap();
        std::os::unix::fs::symlink(root.join("drivers/ftdi_sio"), iface.join("driver")).unwrap();
        for (k, v) in [
            ("idVendor", "0403"),
            ("idProduct", "6001"),
            ("manufacturer", "FTDI"),
            ("product", "FT232R USB UART\n"),
        ] {
            std::fs::write(usb.join(k), v).unwrap();
        }
        let class = root.join("class");
        std::fs::create_dir_all(class.join("ttyUSB0")).unwrap();
        std::os::unix::fs::symlink(&iface, class.join("ttyUSB0/device")).unwrap();
        // A virtual terminal has no device behind it and is left out, and
        // so is a UART slot with nothing in it (type 0).
        std::fs::create_dir_all(class.join("tty1")).unwrap();
        let slot = root.join("devices/platform/serial8250/ttyS1");
        std::fs::create_dir_all(&slot).unwrap();
        std::fs::create_dir_all(class.join("ttyS1")).unwrap();
        std::os::unix::fs::symlink(&slot, class.join("ttyS1/device")).unwrap();
        std::fs::write(class.join("ttyS1/type"), "0\n").unwrap();
        let ports = ports_in(&class);
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert_eq!(ports[0].path, PathBuf::from("/dev/ttyUSB0"));
        assert_eq!(ports[0].usb_id.as_deref(), Some("0403:6001"));
        assert_eq!(ports[0].usb_name.as_deref(), Some("FTDI FT232R USB UART"));
        assert_eq!(ports[0].driver.as_deref(), Some("ftdi_sio"));
        assert_eq!(
            ports[0].describe(),
            "/dev/ttyUSB0 · FTDI FT232R USB UART · 0403:6001 · ftdi_sio"
        );
    }
}
