package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The signin-totp phase: what the second step of a sign-in with TOTP on
// (POST /account/login/2fa) costs next to the password sign-in it follows
// (POST /account/login), in latency and in server CPU. Target: under a
// tenth. One request at a time, in alternating rounds (password sign-ins,
// then as many second steps), on accounts registered and set up through
// the pages; every account signs in with a code once, since a code's
// time step is accepted once.

// totpAccount is a bench account with TOTP on, and a browser of its own.
type totpAccount struct {
	email, secret string
	hc            *http.Client
}

// totpCodeAt is an authenticator app's code for secret at t.
func totpCodeAt(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// jarClient is a browser: cookies kept, redirects not followed.
func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	hc := newClient(1)
	hc.Jar = jar
	return hc
}

// post sends a form as one simulated client and returns the status, the
// Location and how long it took.
func (b *bench) post(ctx context.Context, hc *http.Client, u string, form url.Values) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", b.ips.next())
	t0 := time.Now()
	status, _, hd, err := send(hc, req)
	d := time.Since(t0)
	if err != nil {
		return 0, "", d, err
	}
	return status, hd.Get("Location"), d, nil
}

// registerTOTP registers an account and turns TOTP on through the pages,
// as a person would.
func (b *bench) registerTOTP(ctx context.Context, base, email string) (*totpAccount, error) {
	acc := &totpAccount{email: email, hc: jarClient()}
	if st, _, _, err := b.post(ctx, acc.hc, base+"/account/register", url.Values{"email": {email}, "password": {seedPassword}}); err != nil || st != http.StatusSeeOther {
		return nil, fmt.Errorf("register %s: %d %v", email, st, err)
	}
	if st, _, _, err := b.post(ctx, acc.hc, base+"/account/2fa", url.Values{"action": {"begin"}}); err != nil || st != http.StatusSeeOther {
		return nil, fmt.Errorf("begin set-up for %s: %d %v", email, st, err)
	}
	st, body, _, err := get(ctx, acc.hc, base+"/account/2fa", nil)
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("set-up page for %s: %d %v", email, st, err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	acc.secret = strings.ReplaceAll(strings.TrimSpace(doc.Find(`[data-testid="two-step-secret"]`).Text()), " ", "")
	code, err := totpCodeAt(acc.secret, time.Now())
	if err != nil {
		return nil, fmt.Errorf("set-up page for %s: secret %q: %w", email, acc.secret, err)
	}
	if st, _, _, err := b.post(ctx, acc.hc, base+"/account/2fa", url.Values{"action": {"confirm"}, "code": {code}}); err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("confirm set-up for %s: %d %v", email, st, err)
	}
	acc.hc = jarClient() // signed out: a fresh browser for the sign-in
	return acc, nil
}

// signInTOTP is the signin-totp phase.
func (b *bench) signInTOTP(ctx context.Context, srv *proc, _, _ []string) ([]row, error) {
	perRound := max(b.plan.hashSamples, 3)
	rounds := b.plan.rounds
	b.progress("sign-in with TOTP: registering %d accounts with TOTP on and %d without, through the pages", rounds*perRound, perRound)
	var plain []string
	for i := range perRound {
		email := fmt.Sprintf("plain%03d@totp.bench.example", i)
		if st, _, _, err := b.post(ctx, newClient(1), srv.url+"/account/register", url.Values{"email": {email}, "password": {seedPassword}}); err != nil || st != http.StatusSeeOther {
			return nil, fmt.Errorf("register %s: %d %v", email, st, err)
		}
		plain = append(plain, email)
	}
	var accounts []*totpAccount
	for i := range rounds * perRound {
		acc, err := b.registerTOTP(ctx, srv.url, fmt.Sprintf("t%04d@totp.bench.example", i))
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, acc)
	}

	b.progress("sign-in with TOTP: %d alternating round(s) of %d password sign-ins, then %d second steps, one request at a time", rounds, perRound, perRound)
	hc := newClient(1)
	var pw, step []time.Duration
	var pwCPU, stepCPU time.Duration
	for r := range rounds {
		// Password sign-ins without TOTP: the baseline.
		c0, err := cpuTime(srv.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		for _, email := range plain {
			st, _, d, err := b.post(ctx, hc, srv.url+"/account/login", url.Values{"email": {email}, "password": {seedPassword}})
			if err != nil || st != http.StatusSeeOther {
				return nil, fmt.Errorf("password sign-in %s: %d %v", email, st, err)
			}
			pw = append(pw, d)
		}
		c1, err := cpuTime(srv.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		pwCPU += c1 - c0
		// This round's TOTP accounts: the password step (not measured),
		// then the second steps, measured as a batch.
		batch := accounts[r*perRound : (r+1)*perRound]
		for _, acc := range batch {
			st, loc, _, err := b.post(ctx, acc.hc, srv.url+"/account/login", url.Values{"email": {acc.email}, "password": {seedPassword}})
			if err != nil || st != http.StatusSeeOther || loc != "/account/login/2fa" {
				return nil, fmt.Errorf("password step %s: %d %q %v", acc.email, st, loc, err)
			}
		}
		c2, err := cpuTime(srv.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		for _, acc := range batch {
			// The next step's code: accepted (one step of skew) and always
			// after the step the set-up spent.
			code, err := totpCodeAt(acc.secret, time.Now().Add(30*time.Second))
			if err != nil {
				return nil, err
			}
			st, loc, d, err := b.post(ctx, acc.hc, srv.url+"/account/login/2fa", url.Values{"code": {code}})
			if err != nil || st != http.StatusSeeOther || loc != "/account" {
				return nil, fmt.Errorf("second step %s: %d %q %v", acc.email, st, loc, err)
			}
			step = append(step, d)
		}
		c3, err := cpuTime(srv.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		stepCPU += c3 - c2
	}
	n := float64(len(step))
	pwMed, stepMed := median(pw), median(step)
	pwPer, stepPer := pwCPU.Seconds()/n, stepCPU.Seconds()/n
	return []row{
		{metric: fmt.Sprintf("second sign-in step (TOTP) vs password sign-in, latency (median of %d)", len(step)),
			baseline: ms(pwMed), latchkey: ms(stepMed), ratio: ratio(stepMed.Seconds(), pwMed.Seconds()),
			target: "< 0.10×", result: passIf(stepMed < pwMed/10),
			context: fmt.Sprintf("POST /account/login/2fa (code checked, step spent, new session) vs POST /account/login (argon2id) without TOTP; one request at a time, %d alternating round(s); p90 %s vs %s",
				rounds, ms(percentile(step, 90)), ms(percentile(pw, 90)))},
		{metric: fmt.Sprintf("second sign-in step (TOTP) vs password sign-in, server CPU per request (%d each)", len(step)),
			baseline: ms(time.Duration(pwPer * float64(time.Second))), latchkey: ms(time.Duration(stepPer * float64(time.Second))),
			ratio: ratio(stepPer, pwPer), target: "< 0.10×", result: passIf(stepPer < pwPer/10),
			context: fmt.Sprintf("user+system CPU of the server process (/proc, %d ms ticks) over each batch: %s vs %s in all",
				clockTick.Milliseconds(), ms(stepCPU), ms(pwCPU))},
	}, nil
}
