//! Before any executor starts: does this machine give glommio what it needs? A
//! missing io_uring, an opcode an old kernel lacks, or too little locked memory
//! otherwise fails inside an executor thread, after the node has said it is up.

use io_uring::{opcode, IoUring, Probe};

/// glommio refuses to start a reactor below this `RLIMIT_MEMLOCK`.
const MIN_LOCKED_BYTES: u64 = 512 * 1024;

/// The io_uring operations glommio issues for files, sockets and timers.
const NEEDED: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::ReadFixed::CODE, "READ_FIXED"),
    (opcode::WriteFixed::CODE, "WRITE_FIXED"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Fallocate::CODE, "FALLOCATE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::PollRemove::CODE, "POLL_REMOVE"),
    (opcode::Timeout::CODE, "TIMEOUT"),
    (opcode::TimeoutRemove::CODE, "TIMEOUT_REMOVE"),
    (opcode::LinkTimeout::CODE, "LINK_TIMEOUT"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
];

/// # Errors
/// One line naming what is missing and how to get it.
pub fn check_io_uring() -> Result<(), String> {
    let locked = locked_memory_limit()?;
    if locked < MIN_LOCKED_BYTES {
        return Err(format!(
            "the locked-memory limit is {} KiB and io_uring needs at least {} KiB: raise it \
             (`ulimit -l 8192`, or memlock in /etc/security/limits.conf, or --ulimit memlock \
             for a container)",
            locked / 1024,
            MIN_LOCKED_BYTES / 1024
        ));
    }
    let ring = IoUring::new(8).map_err(|e| {
        format!(
            "io_uring is unavailable ({e}): Percore needs Linux 5.8 or later with io_uring \
             enabled (sysctl kernel.io_uring_disabled = 0) and not blocked by a seccomp \
             profile (containers: --security-opt seccomp=unconfined or a profile allowing \
             io_uring_setup)"
        )
    })?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| {
        format!("cannot ask io_uring which operations it has ({e}): Linux 5.8 or later is needed")
    })?;
    let missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(code, _)| !probe.is_supported(*code))
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "this kernel's io_uring lacks {}: Percore needs Linux 5.8 or later",
            missing.join(", ")
        ));
    }
    Ok(())
}

fn locked_memory_limit() -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if result != 0 {
        return Err(format!(
            "cannot read the locked-memory limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_passes_the_probe() {
        // The machines Percore is built and tested on run it; a failure here names
        // what the machine lacks.
        check_io_uring().unwrap();
    }
}
