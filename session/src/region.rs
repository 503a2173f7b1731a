//! The memory the slots live in: a shared file mapping (every process that opens the same file
//! sees the same slots) or, for tests and platforms without `mmap`, private heap memory.

use crate::slot::{SLOTS, Slot};
use std::io;
use std::path::Path;
use std::ptr::NonNull;

/// A fixed array of [`SLOTS`] slots.
pub struct Region {
    /// First slot; valid for [`SLOTS`] slots for the region's lifetime.
    slots: NonNull<Slot>,
    /// What owns the memory.
    backing: Backing,
}

enum Backing {
    /// `mmap`ed file, locked in RAM when the system allowed it; unmapped on drop.
    #[cfg(unix)]
    Mapped { bytes: usize, locked: bool },
    /// Private memory (the box keeps it alive).
    Heap(#[allow(dead_code)] Box<[Slot]>),
}

// SAFETY: the slots are atomics only, shared by design; the pointer stays valid until drop.
unsafe impl Send for Region {}
// SAFETY: as above; every access goes through atomics.
unsafe impl Sync for Region {}

impl Region {
    /// Private slots no other process can see.
    pub fn in_memory() -> Self {
        let mut heap: Box<[Slot]> = (0..SLOTS).map(|_| Slot::zeroed()).collect();
        let slots = NonNull::new(heap.as_mut_ptr()).expect("box pointers are never null");
        Self {
            slots,
            backing: Backing::Heap(heap),
        }
    }

    /// Maps the registry file at `path`, creating it (zero-filled, mode 0600) when missing.
    #[cfg(unix)]
    pub fn open(path: &Path) -> io::Result<Self> {
        use std::fs::OpenOptions;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        use std::os::unix::io::AsRawFd;

        let bytes = SLOTS * size_of::<Slot>();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            // Never follow a link planted where the registry should be.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        // SAFETY: getuid has no preconditions.
        if meta.uid() != unsafe { libc::getuid() } {
            return Err(io::Error::other(format!(
                "{} belongs to another user",
                path.display()
            )));
        }
        // Grow (zero-filled) when new or short; never shrink: another process may have it mapped.
        if meta.len() < bytes as u64 {
            file.set_len(bytes as u64)?;
        }
        #[cfg(target_os = "linux")]
        let populate = libc::MAP_POPULATE;
        #[cfg(not(target_os = "linux"))]
        let populate = 0;
        // SAFETY: a fresh shared mapping of a file at least `bytes` long; checked for failure.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | populate,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Keep the pages in RAM so the audio thread's stores never wait for a page fault. Best
        // effort: a tight RLIMIT_MEMLOCK leaves them populated but swappable.
        // SAFETY: locks exactly the mapping just created.
        let locked = unsafe { libc::mlock(ptr, bytes) } == 0;
        // The mapping outlives the descriptor.
        drop(file);
        Ok(Self {
            slots: NonNull::new(ptr.cast()).expect("mmap never returns null on success"),
            backing: Backing::Mapped { bytes, locked },
        })
    }

    /// Without `mmap` there is no cross-process registry: instances of this process only.
    #[cfg(not(unix))]
    pub fn open(_path: &Path) -> io::Result<Self> {
        Ok(Self::in_memory())
    }

    /// All slots.
    pub fn slots(&self) -> &[Slot] {
        // SAFETY: `slots` points at SLOTS initialised (or zero-filled, which is a valid bit
        // pattern for atomics) slots that live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), SLOTS) }
    }

    /// Whether the slots are locked in RAM (`mlock`).
    pub fn is_locked(&self) -> bool {
        #[cfg(unix)]
        if let Backing::Mapped { locked, .. } = self.backing {
            return locked;
        }
        false
    }

    /// Whether other processes can see these slots.
    pub fn is_shared(&self) -> bool {
        !matches!(self.backing, Backing::Heap(_))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Backing::Mapped { bytes, .. } = self.backing {
            // SAFETY: unmaps exactly the mapping created in `open`; no references outlive self.
            unsafe {
                libc::munmap(self.slots.as_ptr().cast(), bytes);
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn two_mappings_of_one_file_share_their_slots() {
        let dir = std::env::temp_dir().join(format!("lathe-region-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("registry");
        let a = Region::open(&path).unwrap();
        let b = Region::open(&path).unwrap();
        assert!(a.is_shared());
        a.slots()[17].pid.store(4242, Ordering::Release);
        assert_eq!(b.slots()[17].pid.load(Ordering::Acquire), 4242);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (SLOTS * size_of::<Slot>()) as u64
        );
        drop((a, b));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The default registry lives on a tmpfs (`$XDG_RUNTIME_DIR` or POSIX shared memory: no disk
    /// behind the audio thread's stores), and the mapping is locked in RAM.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_registry_is_locked_shared_memory_on_a_tmpfs() {
        use std::os::unix::ffi::OsStrExt;
        let path = crate::system_path();
        let dir = path.parent().unwrap();
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: statfs fills the zeroed struct for a valid NUL-terminated path.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut fs) }, 0);
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        assert_eq!(
            fs.f_type as i64,
            TMPFS_MAGIC,
            "{} is not a tmpfs",
            dir.display()
        );
        let region = Region::open(&path).unwrap();
        assert!(region.is_shared());
        assert!(region.is_locked(), "mlock of the registry failed");
    }

    #[test]
    fn links_are_refused() {
        let dir = std::env::temp_dir().join(format!("lathe-region-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("elsewhere");
        std::fs::write(&target, b"precious").unwrap();
        let link = dir.join("registry");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(Region::open(&link).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
