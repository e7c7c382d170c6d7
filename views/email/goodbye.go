package email

// Goodbye is the "your account was deleted" email.
type Goodbye struct {
	When   string
	IP     string
	Device string
	// ByOperator is set when an operator deleted the account from the
	// command line: there is no IP address or device to name.
	ByOperator bool
	// SiteURL is Latchkey's address (BASE_URL), where a new account can be
	// made; the email has no other link.
	SiteURL string
}
