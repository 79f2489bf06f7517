//! ipsynd main loop: inotify, self-pipe, deadlines, dispatch, reaping (being written; owner: ipsynd-daemon).
