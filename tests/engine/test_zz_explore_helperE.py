import json
from tests.engine.conftest import claim_entry

def show(p, r):
    print(r.stdout.str()[-3000:])
    try:
        d = p.report()
        print(json.dumps({k: d[k] for k in ("summary", "timings_s")}, indent=1))
        print(p.verdicts())
    except Exception as e:
        print("NO REPORT", repr(e))

def test_badyaml(claims_project):
    claims_project.claims(claim_entry("a-ok"))
    claims_project.raw_claims("section: [unclosed\n", file="bad.yaml")
    claims_project.checks('''
        import pytest
        @pytest.mark.claim("a-ok")
        def test_a(evidence):
            evidence.property_holds("x", True, 1, "1")
    ''')
    show(claims_project, claims_project.run())
    assert 0

def test_unknown_impl(claims_project):
    claims_project.claims(claim_entry("a-ok"), claim_entry("b-impl"))
    claims_project.checks('''
        import pytest
        @pytest.mark.claim("a-ok")
        def test_a(evidence):
            evidence.property_holds("x", True, 1, "1")
    ''')
    claims_project.checks('''
        import pytest
        from impl.registry import cases
        @pytest.mark.claim("b-impl")
        @pytest.mark.parametrize("case", cases(ids=["no-such-impl"]))
        def test_b(case):
            pass
    ''', name="test_impl")
    show(claims_project, claims_project.run())
    assert 0

def test_weird_claimed(claims_project):
    claims_project.raw_claims('''
        section: "The Solution: Converting Scores to Probabilities"
        claims:
          - id: a-ok
            quote: q
            statement: s
            kind: math-property
            expect: SUPPORTED
            version: 1
            claimed: {when: 2024-01-01, x: .nan, b: !!binary aGVsbG8=}
    ''')
    claims_project.checks('''
        import pytest
        @pytest.mark.claim("a-ok")
        def test_a(evidence):
            evidence.property_holds("x", True, 1, "1")
    ''')
    show(claims_project, claims_project.run())
    assert 0
