#!/usr/bin/perl
# Baseline for benchmarks/bounce_accuracy.py and benchmarks/parse_process.py:
# how fast Debian's Sisimai 4.25 (libsisimai-perl) decodes the same files.
# Measurement only; the parser never calls it.
#
# Usage: perl bounce_sisimai_baseline.pl [--json] ROUNDS FILE...
# Prints "<messages> <seconds>" (the wall time of the decoding loop) on
# stdout. With --json, each file's records are printed as one line of JSON
# (Sisimai->dump, the counterpart of `bounceledger parse --json`), and the
# count line goes to stderr instead, so that timing the whole process times
# the same job: start-up, reading, decoding and writing the records.
use strict;
use warnings;
use Sisimai;
use Time::HiRes qw(time);

my $json = 0;
if (@ARGV && $ARGV[0] eq '--json') {
    $json = 1;
    shift @ARGV;
}
my $rounds = shift @ARGV;
my @files  = @ARGV;
my $count  = 0;
my $start  = time;
for my $round (1 .. $rounds) {
    for my $file (@files) {
        if ($json) {
            print Sisimai->dump($file, 'delivered' => 1), "\n";
        } else {
            my $records = Sisimai->make($file, 'delivered' => 1);
        }
        $count++;
    }
}
my $line = sprintf "%d %.6f\n", $count, time - $start;
if ($json) { print STDERR $line } else { print $line }
