package host

import (
	"context"
	"log/slog"
	"sync"
)

// lineLogger turns a guest's stdout or stderr (WASI fd_write) into one log
// record per line: stdout at INFO, stderr at ERROR, as the spec asks.
type lineLogger struct {
	mu    sync.Mutex
	buf   []byte
	log   *slog.Logger
	level slog.Level
}

// maxLogLine bounds a line kept while waiting for its newline.
const maxLogLine = 16 << 10

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := indexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > maxLogLine {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(p), nil
}

func (l *lineLogger) emit(line []byte) {
	if len(line) > 0 && l.log.Enabled(context.Background(), l.level) {
		l.log.Log(context.Background(), l.level, string(line))
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// slogLevel maps proxy_log_level_t to slog levels: TRACE is below DEBUG,
// CRITICAL above ERROR.
func slogLevel(l uint32) slog.Level {
	switch l {
	case logTrace:
		return slog.LevelDebug - 4
	case logDebug:
		return slog.LevelDebug
	case logInfo:
		return slog.LevelInfo
	case logWarn:
		return slog.LevelWarn
	case logError:
		return slog.LevelError
	default:
		return slog.LevelError + 4
	}
}
