;; Binaries that do not decode.
(assert_malformed (component binary "") "unexpected end")
(assert_malformed (component binary "\00asm" "\0d\00\01") "unexpected end")
(assert_malformed (component binary "\00asm" "\0d\00\01\00" "\ff\00") "invalid section id")
(assert_malformed (component binary "\00asm" "\0d\00\01\00" "\07\05\01") "unexpected end")
(assert_malformed (component quote "(component (type (func (param \"x\" nosuchtype))))") "unknown")
