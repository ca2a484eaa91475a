package integration

import (
	"os"

	"go.uber.org/zap/zapcore"
)

// zapLevel keeps the operator quiet unless AUTOTEL_TEST_LOG=debug.
func zapLevel() zapcore.Level {
	if os.Getenv("AUTOTEL_TEST_LOG") == "debug" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
