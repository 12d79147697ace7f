fn main() {
    println!("infocus {}", infocus::VERSION);
}
