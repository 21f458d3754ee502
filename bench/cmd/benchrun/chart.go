package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"time"
)

// writeChart draws saturation throughput as horizontal bars: one group per configuration, one
// bar per token set, with the value printed after each bar.
func writeChart(opt *options, res *results) error {
	const (
		scale    = 2
		barH     = 14
		gap      = 3
		groupGap = 14
		right    = 230
		top      = 96
		width    = 1600
	)
	palette := []color.RGBA{
		{0x2b, 0x6c, 0xb0, 0xff}, {0x8e, 0xc1, 0xe8, 0xff}, {0xd9, 0x7a, 0x1e, 0xff},
		{0xf2, 0xc0, 0x8a, 0xff}, {0xb0, 0x3a, 0x3a, 0xff},
	}
	var maxRPS float64
	rows := 0
	for _, c := range res.Configs {
		n := 0
		for _, r := range c.Runs {
			maxRPS = math.Max(maxRPS, r.RPS)
			n++
		}
		if n == 0 {
			n = 1
		}
		rows += n
	}
	if maxRPS == 0 {
		maxRPS = 1
	}
	height := top + rows*(barH+gap) + len(res.Configs)*groupGap + 70
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}

	drawText(img, 20, 16, "Gatewarden make bench: saturation throughput (wrk, requests/s, higher is better)", scale, black)
	drawText(img, 20, 40, fmt.Sprintf("%s, %s cores shared by load generator, proxy and backend, %s",
		res.Started.Format("2006-01-02"), res.Machine["cores"], res.Elapsed.Round(time.Second)), 1, black)
	// legend
	lx := 20
	for i, s := range res.Sets {
		fillRect(img, lx, 60, 14, 14, palette[i%len(palette)])
		drawText(img, lx+20, 61, s.Name, scale, black)
		lx += 20 + textWidth(s.Name, scale) + 30
	}

	left := 40
	for _, c := range res.Configs {
		left = max(left, 40+textWidth(c.Label, scale))
	}
	plotW := width - left - right
	xOf := func(v float64) int { return left + int(v/maxRPS*float64(plotW)) }
	// grid
	step := niceStep(maxRPS / 6)
	for v := 0.0; v <= maxRPS; v += step {
		x := xOf(v)
		fillRect(img, x, top-6, 1, height-top-50, grey)
		lbl := fmt.Sprintf("%.0fk", v/1000)
		if step < 1000 {
			lbl = fmt.Sprintf("%.0f", v)
		}
		drawText(img, x-textWidth(lbl, 2)/2, height-44, lbl, 2, black)
	}

	y := top
	for _, c := range res.Configs {
		drawText(img, 20, y+2, c.Label, scale, black)
		if len(c.Runs) == 0 {
			drawText(img, left+6, y+2, "failed", scale, palette[4])
			y += barH + gap + groupGap
			continue
		}
		for _, r := range c.Runs {
			ci := 0
			for i, s := range res.Sets {
				if s.Name == r.Set {
					ci = i
				}
			}
			x1 := xOf(r.RPS)
			if x1 < left+1 {
				x1 = left + 1
			}
			fillRect(img, left, y, x1-left, barH, palette[ci%len(palette)])
			lbl := fmt.Sprintf("%.0f", r.RPS)
			if !r.StatusOK {
				lbl += " (status!)"
			}
			drawText(img, x1+6, y, lbl, 2, black)
			y += barH + gap
		}
		y += groupGap
	}
	fillRect(img, left, top-6, 1, height-top-50, black)

	f, err := os.Create(opt.outPNG)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fillRect(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), image.NewUniform(c), image.Point{}, draw.Src)
}

// niceStep rounds a raw grid step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
