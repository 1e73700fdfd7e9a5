package moto

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// iamGaps are the IAM query-protocol actions moto 5.2.1 lacks
// (moto/iam/responses.py has no service-specific credentials), each with
// what IAM answers for an account that has no such credentials.
var iamGaps = map[string]func(w http.ResponseWriter, form url.Values){
	"ListServiceSpecificCredentials":  noServiceCredentials,
	"UpdateServiceSpecificCredential": noSuchServiceCredential,
}

// newGapProxy forwards every request to upstream unchanged (Host and body
// included, so URLs moto builds from the Host, such as SQS queue URLs,
// point back at the proxy) except the IAM actions in iamGaps.
func newGapProxy(upstream *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
		},
		// The bench and the demo send many calls at once; the default two
		// idle connections per host would redial for most of them.
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     30 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "moto gap proxy: reaching moto_server: "+err.Error(), http.StatusBadGateway)
		},
	}
	return withGaps(rp)
}

// withGaps answers the actions in iamGaps and hands everything else to next.
func withGaps(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || signedService(r.Header.Get("Authorization")) != "iam" {
			next.ServeHTTP(w, r)
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "moto gap proxy: reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			if answer, ok := iamGaps[form.Get("Action")]; ok {
				answer(w, form)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// signedService is the service in a SigV4 Authorization header's
// credential scope (Credential=KEY/DATE/REGION/SERVICE/aws4_request): with
// one endpoint for every service, as here, it is what tells IAM apart, as
// it is for moto.
func signedService(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// noServiceCredentials is ListServiceSpecificCredentials's answer with no
// credentials, for AllUsers and for one user alike. (For a user that does
// not exist IAM answers NoSuchEntity; the kind reads that as "none" too.)
func noServiceCredentials(w http.ResponseWriter, _ url.Values) {
	id := requestID()
	writeXML(w, http.StatusOK, id, `<ListServiceSpecificCredentialsResponse xmlns="`+iamNamespace+`">`+
		`<ListServiceSpecificCredentialsResult><ServiceSpecificCredentials/><IsTruncated>false</IsTruncated></ListServiceSpecificCredentialsResult>`+
		`<ResponseMetadata><RequestId>`+id+`</RequestId></ResponseMetadata></ListServiceSpecificCredentialsResponse>`)
}

// noSuchServiceCredential is IAM's NoSuchEntity, what
// UpdateServiceSpecificCredential answers for a credential that does not
// exist; with none in the account, that is every one.
func noSuchServiceCredential(w http.ResponseWriter, form url.Values) {
	id := requestID()
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(fmt.Sprintf("The service-specific credential with ID %s cannot be found.", form.Get("ServiceSpecificCredentialId"))))
	writeXML(w, http.StatusNotFound, id, `<ErrorResponse xmlns="`+iamNamespace+`">`+
		`<Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>`+msg.String()+`</Message></Error>`+
		`<RequestId>`+id+`</RequestId></ErrorResponse>`)
}

func writeXML(w http.ResponseWriter, status int, id, body string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// requestID is a random ID in IAM's UUID form.
func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
