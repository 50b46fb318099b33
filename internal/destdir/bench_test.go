package destdir

import (
	"fmt"
	"testing"
)

// BenchmarkSmallFiles receives the tree of bench/run's small section,
// 10,000 files of 1 KiB, 100 to a directory, and makes it durable.
func BenchmarkSmallFiles(b *testing.B) {
	data := make([]byte, 1024)
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("d%03d/f%04d", i/100, i)
	}
	for b.Loop() {
		b.StopTimer()
		d, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		batch, err := d.Begin(int64(len(names)+100), UnknownSize)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i, name := range names {
			if i%100 == 0 {
				if _, err := batch.Create(Entry{Dir: true, Mode: 0o755, Name: name[:4]}); err != nil {
					b.Fatal(err)
				}
			}
			f, err := batch.Create(Entry{Mode: 0o644, Size: int64(len(data)), Name: name})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Commit(); err != nil {
				b.Fatal(err)
			}
			if _, err := batch.Durable(false); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := batch.Durable(true); err != nil {
			b.Fatal(err)
		}
		if err := batch.Finish(false); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		batch.Close()
		_ = d.Close()
		b.StartTimer()
	}
}
